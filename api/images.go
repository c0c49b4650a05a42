package api

import (
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

// imageOptions are the fields every image route takes.
type imageOptions struct {
	N              *int    `json:"n"`
	Size           *string `json:"size"`
	Quality        *string `json:"quality"`
	ResponseFormat *string `json:"response_format"`
	model          imageModel
}

func (o *imageOptions) validate(v *fieldErrors) {
	if o.N != nil {
		v.intRange("n", *o.N, 1, o.model.maxN)
	}
	v.oneOf("size", o.Size, o.model.sizes...)
	v.supported("quality", o.Quality, o.model.name, o.model.qualities)
	v.oneOf("response_format", o.ResponseFormat, "url", "b64_json")
}

// fromForm reads the options from multipart text fields; an empty field counts as absent.
func (o *imageOptions) fromForm(f map[string]string, v *fieldErrors) {
	if s := f["n"]; s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			v.add([]any{"body", "n"}, "Input should be a valid integer, unable to parse string as an integer", "int_parsing")
		} else {
			o.N = &n
		}
	}
	o.Size, o.Quality, o.ResponseFormat = formField(f, "size"), formField(f, "quality"), formField(f, "response_format")
}

func formField(f map[string]string, name string) *string {
	if s, ok := f[name]; ok && s != "" {
		return &s
	}
	return nil
}

func (o *imageOptions) payload(prompt string) jobs.ImagePayload {
	p := jobs.ImagePayload{Model: o.model.name, Prompt: prompt, N: 1, Size: defaultImageSize, Quality: deref(o.Quality),
		ResponseFormat: "url"}
	if o.N != nil {
		p.N = *o.N
	}
	if o.Size != nil {
		p.Size = *o.Size
	}
	if o.ResponseFormat != nil {
		p.ResponseFormat = *o.ResponseFormat
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

// imageGenerateRequest is the body of POST /images/generate.
type imageGenerateRequest struct {
	Prompt *string `json:"prompt"`
	Style  *string `json:"style"`
	imageOptions
}

func (r *imageGenerateRequest) validate(v *fieldErrors) {
	checkPrompt(v, r.Prompt, r.model)
	v.supported("style", r.Style, r.model.name, r.model.styles)
	r.imageOptions.validate(v)
}

// imageEditRequest is POST /images/edit (JSON) or /images/upload-and-edit (multipart); its
// images are already stored by up.
type imageEditRequest struct {
	Prompt *string `json:"prompt"`
	imageOptions
	up *uploads
}

func (r *imageEditRequest) validate(v *fieldErrors) {
	checkPrompt(v, r.Prompt, r.model)
	r.imageOptions.validate(v)
	r.up.checkInputs(v)
	r.up.checkMask(v)
}

// imageVariationRequest is POST /images/variations; its image is already stored by up.
type imageVariationRequest struct {
	imageOptions
	up *uploads
}

func (r *imageVariationRequest) validate(v *fieldErrors) {
	r.imageOptions.validate(v)
	r.up.checkInputs(v)
}

func (s *Server) imageModel() imageModel { return imageModelFor(s.cfg.ImageModel) }

func (s *Server) imageGenerate(c *fiber.Ctx) error {
	req := imageGenerateRequest{imageOptions: imageOptions{model: s.imageModel()}}
	if err := decodeJSON(c, imageJSONLimit, &req); err != nil {
		return err
	}
	p := req.payload(*req.Prompt)
	p.Style = deref(req.Style)
	return s.runImageJob(c, jobs.TypeImageGenerate, jobs.NewID(), p, nil)
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
	req := imageEditRequest{imageOptions: imageOptions{model: m}, up: s.newUploads(c, id, m, "input_images")}
	rest, err := readImageJSON(c, imagesBodyLimit, req.up, []string{"input_images"}, []string{"mask"})
	if err == nil {
		err = decodeJSONBody(rest, &req)
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageEdit, id, req.payload(*req.Prompt), req.up)
}

func (s *Server) imageUploadEdit(c *fiber.Ctx) error {
	m, err := s.editModel()
	if err != nil {
		return err
	}
	id := jobs.NewID()
	req := imageEditRequest{imageOptions: imageOptions{model: m}, up: s.newUploads(c, id, m, "image")}
	form, err := readImageForm(c, imagesBodyLimit, req.up, "prompt", "n", "size", "quality", "response_format")
	if err == nil {
		var v fieldErrors
		req.Prompt = formField(form, "prompt")
		req.fromForm(form, &v)
		if len(v.list) == 0 {
			req.validate(&v)
		}
		err = v.err()
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageEdit, id, req.payload(*req.Prompt), req.up)
}

func (s *Server) imageVariations(c *fiber.Ctx) error {
	m := imageModelFor(variationModel)
	m.qualities = nil // variations take no quality
	id := jobs.NewID()
	req := imageVariationRequest{imageOptions: imageOptions{model: m}, up: s.newUploads(c, id, m, "image")}
	var err error
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		var form map[string]string
		if form, err = readImageForm(c, variationBodyLimit, req.up, "n", "size", "response_format"); err == nil {
			var v fieldErrors
			req.fromForm(form, &v)
			if len(v.list) == 0 {
				req.validate(&v)
			}
			err = v.err()
		}
	} else {
		var rest []byte
		if rest, err = readImageJSON(c, variationBodyLimit, req.up, nil, []string{"image"}); err == nil {
			err = decodeJSONBody(rest, &req)
		}
	}
	if err != nil {
		req.up.discard()
		return err
	}
	return s.runImageJob(c, jobs.TypeImageVariation, id, req.payload(""), req.up)
}

// runImageJob queues the job and answers like every job route: with the result, or 202. Until
// the job is queued its uploads are the request's (deleted when it fails); then the worker's.
func (s *Server) runImageJob(c *fiber.Ctx, typ, id string, p jobs.ImagePayload, up *uploads) error {
	if up != nil {
		p.Inputs, p.Mask = up.inputs, up.mask
	}
	spec := jobs.Spec{Type: typ, ID: id, Payload: p, RequestID: requestID(c), Owner: callerOf(c).owner}
	info, err := s.deps.Jobs.Enqueue(c.UserContext(), spec)
	if err != nil {
		if up != nil {
			up.discard()
		}
		return err
	}
	if wantsAsync(c) {
		return s.accepted(c, info.ID)
	}
	out, err := s.deps.Jobs.Wait(c.UserContext(), info, min(imageWait, s.cfg.SyncWait))
	return s.answer(c, info, out, err)
}
