package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
)

// Body limits of the image routes. Edits admit four 25 MB images as base64 (more, smaller ones
// fit too; multipart files take less room than base64).
const (
	imageJSONLimit     = 256 << 10
	maxImageBase64     = (maxImageBytes + 2) / 3 * 4
	imagesBodyLimit    = 4*maxImageBase64 + 1<<20
	variationBodyLimit = maxImageBase64 + 1<<20
	imageWait          = 10 * time.Minute
)

// Kinds of image request: what each validates.
const (
	kindGenerate  = "generate"
	kindEdit      = "edit"
	kindVariation = "variation"
)

// imageRequest is the body of any image route; each kind reads the fields it takes. The images
// of edits and variations are not decoded here: they stream into up as the body is read.
type imageRequest struct {
	Prompt         *string `json:"prompt"`
	Style          *string `json:"style"`
	N              *int    `json:"n"`
	Size           *string `json:"size"`
	Quality        *string `json:"quality"`
	ResponseFormat *string `json:"response_format"`

	kind  string
	model imageModel
	up    *uploads // nil for generate
}

func (r *imageRequest) validate(v *fieldErrors) {
	if r.kind != kindVariation {
		checkPrompt(v, r.Prompt, r.model)
	}
	if r.kind == kindGenerate {
		v.supported("style", r.Style, r.model.name, r.model.styles)
	}
	if r.N != nil {
		v.intRange("n", *r.N, 1, r.model.maxN)
	}
	v.oneOf("size", r.Size, r.model.sizes...)
	v.supported("quality", r.Quality, r.model.name, r.model.qualities)
	v.oneOf("response_format", r.ResponseFormat, "url", "b64_json")
	if r.up != nil {
		r.up.checkInputs(v)
		r.up.checkMask(v)
	}
}

// fromForm reads the text fields of a multipart body (an empty field counts as absent), then
// validates.
func (r *imageRequest) fromForm(f map[string]string) error {
	var v fieldErrors
	r.Prompt, r.Size, r.Quality, r.ResponseFormat = formField(f, "prompt"), formField(f, "size"), formField(f, "quality"), formField(f, "response_format")
	if s := f["n"]; s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			v.add([]any{"body", "n"}, "Input should be a valid integer, unable to parse string as an integer", "int_parsing")
			return v.err()
		}
		r.N = &n
	}
	r.validate(&v)
	return v.err()
}

func formField(f map[string]string, name string) *string {
	if s, ok := f[name]; ok && s != "" {
		return &s
	}
	return nil
}

// payload is the job of a validated request.
func (r *imageRequest) payload() jobs.ImagePayload {
	p := jobs.ImagePayload{Model: r.model.name, N: 1, Size: defaultImageSize, Quality: deref(r.Quality), ResponseFormat: "url"}
	if r.kind != kindVariation {
		p.Prompt = deref(r.Prompt) // variations take none: an unchecked one must not reach Redis
	}
	if r.kind == kindGenerate {
		p.Style = deref(r.Style)
	}
	if r.N != nil {
		p.N = *r.N
	}
	if r.Size != nil {
		p.Size = *r.Size
	}
	if r.ResponseFormat != nil {
		p.ResponseFormat = *r.ResponseFormat
	}
	if r.up != nil {
		p.Inputs, p.Mask = r.up.inputs, r.up.mask
	}
	return p
}

// checkPrompt: present, not blank, within the model's length.
func checkPrompt(v *fieldErrors, prompt *string, m imageModel) {
	v.required("prompt", prompt != nil)
	v.strLen("prompt", prompt, 1, m.maxPrompt)
	if prompt != nil && *prompt != "" && strings.TrimSpace(*prompt) == "" {
		v.add([]any{"body", "prompt"}, "String should not be blank", "string_too_short")
	}
}

// supported is oneOf for a parameter some models do not take at all.
func (f *fieldErrors) supported(name string, s *string, model string, allowed []string) {
	if s != nil && len(allowed) == 0 {
		f.add([]any{"body", name}, fmt.Sprintf("Model %s does not take %s", model, name), "value_error")
		return
	}
	f.oneOf(name, s, allowed...)
}

func (s *Server) imageModel() imageModel { return imageModelFor(s.cfg.ImageModel) }

func (s *Server) imageGenerate(c *fiber.Ctx) error {
	req := &imageRequest{kind: kindGenerate, model: s.imageModel()}
	if err := decodeJSON(c, imageJSONLimit, req); err != nil {
		return err
	}
	return s.runImageJob(c, jobs.TypeImageGenerate, jobs.NewID(), req)
}

// editModel is the configured model, when it edits images at all.
func (s *Server) editModel() (imageModel, error) {
	m := s.imageModel()
	if m.maxInputs == 0 {
		return m, httpError(http.StatusNotImplemented, fmt.Sprintf("The configured image model %s does not edit images", m.name))
	}
	return m, nil
}

func (s *Server) imageEdit(c *fiber.Ctx) error {
	m, err := s.editModel()
	if err != nil {
		return err
	}
	id := jobs.NewID()
	req := &imageRequest{kind: kindEdit, model: m, up: s.newUploads(c, id, m, "input_images")}
	rest, err := readImageJSON(c, imagesBodyLimit, req.up, []string{"input_images"}, []string{"mask"})
	if err == nil {
		err = decodeJSONBody(rest, req)
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageEdit, id, req)
}

func (s *Server) imageUploadEdit(c *fiber.Ctx) error {
	m, err := s.editModel()
	if err != nil {
		return err
	}
	id := jobs.NewID()
	req := &imageRequest{kind: kindEdit, model: m, up: s.newUploads(c, id, m, "image")}
	form, err := readImageForm(c, imagesBodyLimit, req.up, "prompt", "n", "size", "quality", "response_format")
	if err == nil {
		err = req.fromForm(form)
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageEdit, id, req)
}

// imageVariations takes the image as a multipart file or as base64 in JSON.
func (s *Server) imageVariations(c *fiber.Ctx) error {
	m := imageModelFor(variationModel)
	m.qualities = nil // variations take no quality
	id := jobs.NewID()
	req := &imageRequest{kind: kindVariation, model: m, up: s.newUploads(c, id, m, "image")}
	var err error
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		var form map[string]string
		if form, err = readImageForm(c, variationBodyLimit, req.up, "n", "size", "quality", "response_format"); err == nil {
			err = req.fromForm(form)
		}
	} else {
		var rest []byte
		if rest, err = readImageJSON(c, variationBodyLimit, req.up, nil, []string{"image"}); err == nil {
			err = decodeJSONBody(rest, req)
		}
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageVariation, id, req)
}

// runImageJob queues the job and answers like every job route: with the result, or 202. Until
// the job is queued its uploads are the request's (deleted when it fails); then the worker's.
func (s *Server) runImageJob(c *fiber.Ctx, typ, id string, req *imageRequest) error {
	spec := jobs.ImageJob(typ, req.payload())
	spec.ID, spec.RequestID, spec.Owner = id, requestID(c), callerOf(c).owner
	var (
		info jobs.Info
		out  jobs.Outcome
	)
	settle, err := s.admitJob(c, &spec)
	if err != nil {
		if req.up != nil {
			req.up.discard()
		}
		return err
	}
	if wantsAsync(c) {
		info, err = s.deps.Jobs.Enqueue(c.UserContext(), spec)
	} else {
		info, out, err = s.waitJob(c, spec.ID, func(ctx context.Context) (jobs.Info, jobs.Outcome, error) {
			return s.deps.Jobs.Run(ctx, spec, min(imageWait, s.cfg.SyncWait))
		})
	}
	settle(wantsAsync(c), err)
	if info.ID == "" && req.up != nil {
		req.up.discard() // never queued: the uploads are still the request's
	}
	if err == nil && wantsAsync(c) {
		return s.accepted(c, info.ID)
	}
	return s.answer(c, info, out, err)
}
