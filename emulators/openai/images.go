package openaiemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Image model families and what each accepts.
const (
	famDallE2   = "dall-e-2"
	famDallE3   = "dall-e-3"
	famGPTImage = "gpt-image"
)

type imageFamilySpec struct {
	sizes       []string
	defaultSize string
	qualities   []string
	maxPrompt   int
	maxN        int
	urls        bool // response_format url|b64_json is supported (else always b64_json)
	mimes       []string
	maxUpload   int
}

var imageFamilies = map[string]imageFamilySpec{
	famDallE2: {sizes: []string{"256x256", "512x512", "1024x1024"}, defaultSize: "1024x1024",
		qualities: []string{"standard"}, maxPrompt: 1000, maxN: 10, urls: true,
		mimes: []string{"image/png"}, maxUpload: 4 << 20},
	famDallE3: {sizes: []string{"1024x1024", "1792x1024", "1024x1792"}, defaultSize: "1024x1024",
		qualities: []string{"standard", "hd"}, maxPrompt: 4000, maxN: 1, urls: true},
	famGPTImage: {sizes: []string{"1024x1024", "1536x1024", "1024x1536", "auto"}, defaultSize: "auto",
		qualities: []string{"low", "medium", "high", "auto"}, maxPrompt: 32000, maxN: 10,
		mimes: []string{"image/jpeg", "image/png", "image/webp"}, maxUpload: 50 << 20},
}

// imageFamily maps a model name to its family, "" for a non-image model.
func imageFamily(model string) string {
	switch {
	case strings.HasPrefix(model, "dall-e-2"):
		return famDallE2
	case strings.HasPrefix(model, "dall-e-3"):
		return famDallE3
	case strings.HasPrefix(model, "gpt-image"), strings.HasPrefix(model, "chatgpt-image"):
		return famGPTImage
	}
	return ""
}

// Models each endpoint accepts, and the model used when the request names none (the spec's
// defaults: generations dall-e-2, edits gpt-image-1.5, variations dall-e-2).
var endpointModels = map[Endpoint]struct {
	def      string
	families []string
	names    []string
}{
	EndpointImageGenerations: {"dall-e-2", []string{famDallE2, famDallE3, famGPTImage},
		[]string{"gpt-image-1.5", "gpt-image-2", "dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini"}},
	EndpointImageEdits: {"gpt-image-1.5", []string{famDallE2, famGPTImage},
		[]string{"gpt-image-1.5", "gpt-image-2", "dall-e-2", "gpt-image-1", "gpt-image-1-mini", "chatgpt-image-latest"}},
	EndpointImageVariations: {"dall-e-2", []string{famDallE2}, []string{"dall-e-2"}},
}

// imageParams are an image request's fields, from JSON or multipart; nil means absent.
type imageParams struct {
	Prompt            *string `json:"prompt"`
	Model             *string `json:"model"`
	N                 *int    `json:"n"`
	Quality           *string `json:"quality"`
	ResponseFormat    *string `json:"response_format"`
	OutputFormat      *string `json:"output_format"`
	OutputCompression *int    `json:"output_compression"`
	Size              *string `json:"size"`
	Style             *string `json:"style"`
	Background        *string `json:"background"`
	Moderation        *string `json:"moderation"`
	Stream            *bool   `json:"stream"`
	User              *string `json:"user"`
}

// uploadedImage is one multipart image file.
type uploadedImage struct {
	field string // form field name: image, image[] or mask
	ctype string // the part's Content-Type
	param string // param path in errors: image, image[i] or mask
	data  []byte
}

// imageJob is a validated image request.
type imageJob struct {
	ep          Endpoint
	model       string
	family      string
	prompt      string
	n           int
	w, h        int
	size        string
	quality     string
	format      string // url or b64_json
	output      string // png or jpeg
	compression int
	transparent bool
	style       string
	inputs      []uploadedImage
}

func (e *Emulator) imageGenerations(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointImageGenerations
	body, f, ok := e.beginJSON(w, r, ep, false)
	if !ok {
		return
	}
	var p imageParams
	if aerr := decodeJSON(body, &p); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if p.Prompt == nil {
		writeAPIError(w, errMissing("prompt"))
		return
	}
	if *p.Prompt == "" {
		writeAPIError(w, errEmptyString("prompt"))
		return
	}
	job, aerr := e.planImages(ep, &p, false)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	e.answerImages(w, r, f, job)
}

func (e *Emulator) imageEdits(w http.ResponseWriter, r *http.Request) {
	e.multipartImages(w, r, EndpointImageEdits)
}

func (e *Emulator) imageVariations(w http.ResponseWriter, r *http.Request) {
	e.multipartImages(w, r, EndpointImageVariations)
}

func (e *Emulator) multipartImages(w http.ResponseWriter, r *http.Request, ep Endpoint) {
	e.count(ep)
	body, aerr := readBody(w, r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	perr := r.ParseMultipartForm(maxBody)
	var form *multipart.Form
	if perr == nil {
		form = r.MultipartForm
	}
	model := ""
	if form != nil && len(form.Value["model"]) > 0 {
		model = form.Value["model"][0]
	}
	f, ok := e.begin(w, r, ep, body, model, false)
	if !ok {
		return
	}
	if perr != nil {
		writeAPIError(w, invalidRequest("", "",
			"Invalid Content-Type header (%s), expected multipart/form-data. (HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')", r.Header.Get("Content-Type")))
		return
	}
	p, aerr := formParams(form)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	var inputs []uploadedImage
	for _, name := range []string{"image", "image[]"} {
		for _, fh := range form.File[name] {
			up, aerr := readUpload(name, fh)
			if aerr != nil {
				writeAPIError(w, aerr)
				return
			}
			inputs = append(inputs, up)
		}
	}
	if len(inputs) == 0 {
		writeAPIError(w, errMissing("image"))
		return
	}
	if ep == EndpointImageEdits && p.Prompt == nil {
		writeAPIError(w, errMissing("prompt"))
		return
	}
	if ep == EndpointImageVariations {
		p.Prompt = nil // variations take no prompt
	}
	job, aerr := e.planImages(ep, p, true)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if aerr := checkUploads(job, inputs, form); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	job.inputs = inputs
	e.answerImages(w, r, f, job)
}

// formParams reads the text fields of a multipart image request; empty fields count as absent.
func formParams(form *multipart.Form) (*imageParams, *apiError) {
	get := func(k string) *string {
		if v := form.Value[k]; len(v) > 0 && v[0] != "" {
			return &v[0]
		}
		return nil
	}
	getInt := func(k string) (*int, *apiError) {
		s := get(k)
		if s == nil {
			return nil, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(*s))
		if err != nil {
			return nil, errInvalidType(k, "an integer", "a string")
		}
		return &n, nil
	}
	p := &imageParams{Prompt: get("prompt"), Model: get("model"), Quality: get("quality"),
		ResponseFormat: get("response_format"), OutputFormat: get("output_format"), Size: get("size"),
		Style: get("style"), Background: get("background"), Moderation: get("moderation"), User: get("user")}
	var aerr *apiError
	if p.N, aerr = getInt("n"); aerr != nil {
		return nil, aerr
	}
	if p.OutputCompression, aerr = getInt("output_compression"); aerr != nil {
		return nil, aerr
	}
	if s := get("stream"); s != nil {
		b := *s == "true"
		p.Stream = &b
	}
	return p, nil
}

func readUpload(field string, fh *multipart.FileHeader) (uploadedImage, *apiError) {
	up := uploadedImage{field: field, ctype: fh.Header.Get("Content-Type"), param: strings.TrimSuffix(field, "[]")}
	f, err := fh.Open()
	if err == nil {
		up.data, err = io.ReadAll(f)
		_ = f.Close()
	}
	if err != nil {
		return up, invalidRequest(up.param, "", "Could not read the uploaded file '%s'.", up.param)
	}
	return up, nil
}

// planImages validates the common image parameters like the real API.
func (e *Emulator) planImages(ep Endpoint, p *imageParams, multipartReq bool) (*imageJob, *apiError) {
	allowed := endpointModels[ep]
	job := &imageJob{ep: ep, model: allowed.def}
	if p.Model != nil && *p.Model != "" {
		job.model = *p.Model
		if !e.hasModel(job.model) {
			return nil, errModelNotFound(job.model)
		}
	}
	job.family = imageFamily(job.model)
	if !slices.Contains(allowed.families, job.family) {
		if ep == EndpointImageVariations {
			return nil, invalidRequest("model", "invalid_value", "Invalid value: '%s'. Value must be 'dall-e-2'.", job.model)
		}
		return nil, errInvalidValue("model", job.model, allowed.names...)
	}
	spec := imageFamilies[job.family]
	if p.Prompt != nil {
		job.prompt, _, _ = extractDirective(*p.Prompt)
		if n := utf8.RuneCountInString(*p.Prompt); n > spec.maxPrompt {
			return nil, errStringTooLong("prompt", spec.maxPrompt, n)
		}
	}
	job.n = 1
	if p.N != nil {
		if aerr := intRange("n", *p.N, 1, 10); aerr != nil {
			return nil, aerr
		}
		if *p.N > spec.maxN {
			return nil, errIntAboveMax("n", spec.maxN, *p.N)
		}
		job.n = *p.N
	}
	sizes := spec.sizes
	if ep == EndpointImageVariations {
		sizes = []string{"256x256", "512x512", "1024x1024"}
	}
	job.size = spec.defaultSize
	if p.Size != nil {
		job.size = *p.Size
	}
	if !slices.Contains(sizes, job.size) && !customSizeOK(job.model, job.size) {
		return nil, errInvalidValue("size", job.size, sizes...)
	}
	if job.size == "auto" {
		job.size = "1024x1024"
	}
	job.w, job.h, _ = parseSize(job.size)

	if p.Quality != nil && *p.Quality != "auto" && !slices.Contains(spec.qualities, *p.Quality) {
		return nil, errInvalidValue("quality", *p.Quality, spec.qualities...)
	}
	if job.family == famGPTImage {
		job.quality = "medium"
		if p.Quality != nil && *p.Quality != "auto" {
			job.quality = *p.Quality
		}
	}
	if p.Style != nil {
		if !slices.Contains([]string{"vivid", "natural"}, *p.Style) {
			return nil, errInvalidValue("style", *p.Style, "vivid", "natural")
		}
		job.style = *p.Style
	}

	job.format = "b64_json"
	if spec.urls {
		job.format = "url"
		if p.ResponseFormat != nil {
			if !slices.Contains([]string{"url", "b64_json"}, *p.ResponseFormat) {
				return nil, errInvalidValue("response_format", *p.ResponseFormat, "url", "b64_json")
			}
			job.format = *p.ResponseFormat
		}
	} else if p.ResponseFormat != nil && (*p.ResponseFormat != "" || !multipartReq) {
		return nil, errUnknownParameter("response_format")
	}

	job.output, job.compression = "png", 100
	if job.family == famGPTImage {
		if v := p.OutputFormat; v != nil {
			switch *v {
			case "png", "jpeg":
				job.output = *v
			case "webp":
				return nil, &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "output_format",
					Code: "emulator_unsupported", Message: "openaiemu: output_format 'webp' is not emulated (the Go standard library has no WebP encoder); use 'png' or 'jpeg'."}
			default:
				return nil, errInvalidValue("output_format", *v, "png", "jpeg", "webp")
			}
		}
		if v := p.OutputCompression; v != nil {
			if aerr := intRange("output_compression", *v, 0, 100); aerr != nil {
				return nil, aerr
			}
			job.compression = *v
		}
		if v := p.Background; v != nil {
			if !slices.Contains([]string{"transparent", "opaque", "auto"}, *v) {
				return nil, errInvalidValue("background", *v, "transparent", "opaque", "auto")
			}
			job.transparent = *v == "transparent"
			if job.transparent && job.output == "jpeg" {
				return nil, invalidRequest("background", "invalid_value",
					"Transparent background is not supported for output_format 'jpeg'. Use 'png' or 'webp'.")
			}
		}
		if v := p.Moderation; v != nil && !slices.Contains([]string{"low", "auto"}, *v) {
			return nil, errInvalidValue("moderation", *v, "low", "auto")
		}
	}
	if p.Stream != nil && *p.Stream {
		return nil, &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "stream",
			Code: "emulator_unsupported", Message: "openaiemu: streamed image generation is not emulated."}
	}
	return job, nil
}

// customSizeOK accepts gpt-image-2's free sizes: WxH, both divisible by 16, edges at most
// 3840, aspect ratio between 1:3 and 3:1.
func customSizeOK(model, size string) bool {
	if !strings.HasPrefix(model, "gpt-image-2") {
		return false
	}
	w, h, ok := parseSize(size)
	return ok && w%16 == 0 && h%16 == 0 && w <= 3840 && h <= 3840 && w*h <= 3840*2160 &&
		w <= 3*h && h <= 3*w
}

func parseSize(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, err1 == nil && err2 == nil && w > 0 && h > 0
}

// checkUploads validates uploaded images (and the mask) like the real API.
func checkUploads(job *imageJob, inputs []uploadedImage, form *multipart.Form) *apiError {
	spec := imageFamilies[job.family]
	if job.family == famDallE2 && len(inputs) > 1 {
		return errArrayTooLong("image", 1, len(inputs))
	}
	if len(inputs) > 16 {
		return errArrayTooLong("image", 16, len(inputs))
	}
	array := len(inputs) > 1
	var first image.Config
	for i := range inputs {
		in := &inputs[i]
		if array || in.field == "image[]" {
			in.param = fmt.Sprintf("image[%d]", i)
		}
		param := in.param
		if !slices.Contains(spec.mimes, in.ctype) {
			return invalidRequest(param, "unsupported_file_mimetype",
				"Invalid file '%s': unsupported mimetype ('%s'). Supported file formats are %s.", param, orOctet(in.ctype), quoteList(spec.mimes))
		}
		if job.family == famDallE2 {
			cfg, err := png.DecodeConfig(bytes.NewReader(in.data))
			if err != nil || len(in.data) >= spec.maxUpload {
				return invalidRequest("", "", "Uploaded image must be a PNG and less than 4 MB.")
			}
			if cfg.Width != cfg.Height {
				return invalidRequest("", "", "Uploaded image must be square.")
			}
			if job.ep == EndpointImageEdits && len(form.File["mask"]) == 0 {
				if ct := pngColorType(in.data); ct != 0 && ct != 4 && ct != 6 {
					return invalidRequest("", "", "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got %s.", pngModeName(ct))
				}
			}
			first = cfg
			continue
		}
		if !isImage(in.data) || len(in.data) >= spec.maxUpload {
			return invalidRequest(param, "invalid_image_file",
				"Invalid image file or mode for image %d, please check your image file.", i+1)
		}
		if i == 0 {
			first, _, _ = image.DecodeConfig(bytes.NewReader(in.data))
		}
	}
	if masks := form.File["mask"]; len(masks) > 0 {
		mask, aerr := readUpload("mask", masks[0])
		if aerr != nil {
			return aerr
		}
		if mask.ctype != "image/png" {
			return invalidRequest("mask", "unsupported_file_mimetype",
				"Invalid file 'mask': unsupported mimetype ('%s'). Supported file formats are 'image/png'.", orOctet(mask.ctype))
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(mask.data))
		if err != nil {
			return invalidRequest("mask", "invalid_image_file", "Invalid mask image: the mask must be a valid PNG file.")
		}
		if first.Width != 0 && (cfg.Width != first.Width || cfg.Height != first.Height) {
			return invalidRequest("mask", "invalid_value", "Invalid mask image: the mask and the image must have the same dimensions.")
		}
	}
	return nil
}

func orOctet(ctype string) string {
	if ctype == "" {
		return "application/octet-stream"
	}
	return ctype
}

// pngColorType reads the colour type byte of a PNG's IHDR chunk.
func pngColorType(data []byte) byte {
	if len(data) < 26 {
		return 255
	}
	return data[25]
}

func pngModeName(ct byte) string {
	switch ct {
	case 0:
		return "L"
	case 2:
		return "RGB"
	case 3:
		return "P"
	case 4:
		return "LA"
	case 6:
		return "RGBA"
	}
	return "unknown"
}

type imageData struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

type imageUsage struct {
	TotalTokens        int `json:"total_tokens"`
	InputTokens        int `json:"input_tokens"`
	OutputTokens       int `json:"output_tokens"`
	InputTokensDetails struct {
		TextTokens  int `json:"text_tokens"`
		ImageTokens int `json:"image_tokens"`
	} `json:"input_tokens_details"`
}

type imagesResponse struct {
	Created      int64       `json:"created"`
	Data         []imageData `json:"data"`
	Background   string      `json:"background,omitempty"`
	OutputFormat string      `json:"output_format,omitempty"`
	Size         string      `json:"size,omitempty"`
	Quality      string      `json:"quality,omitempty"`
	Usage        *imageUsage `json:"usage,omitempty"`
}

// gptImageOutputTokens is the output token cost of one 1024x1024 GPT image per quality;
// other sizes scale it by area.
var gptImageOutputTokens = map[string]int{"low": 272, "medium": 1056, "high": 4160}

func (e *Emulator) answerImages(w http.ResponseWriter, r *http.Request, f Fault, job *imageJob) {
	resp := imagesResponse{Created: time.Now().Unix(), Data: []imageData{}}
	for i := range job.n {
		pic := drawPicture(job.seed(i), job.w, job.h, job.transparent)
		var buf bytes.Buffer
		if job.output == "jpeg" {
			_ = jpeg.Encode(&buf, pic, &jpeg.Options{Quality: max(job.compression, 1)})
		} else {
			_ = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, pic)
		}
		var d imageData
		if job.format == "url" {
			d.URL = requestOrigin(r) + "/files/" + e.files.put(buf.Bytes())
		} else {
			d.B64JSON = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		if job.family == famDallE3 {
			d.RevisedPrompt = "A simple geometric picture for the request: " + job.prompt
		}
		resp.Data = append(resp.Data, d)
	}
	if job.family == famGPTImage {
		resp.Background, resp.OutputFormat, resp.Size, resp.Quality = "opaque", job.output, job.size, job.quality
		if job.transparent {
			resp.Background = "transparent"
		}
		u := &imageUsage{}
		u.InputTokensDetails.TextTokens = CountTokens(job.prompt)
		u.InputTokensDetails.ImageTokens = ImageTokens * len(job.inputs)
		u.InputTokens = u.InputTokensDetails.TextTokens + u.InputTokensDetails.ImageTokens
		u.OutputTokens = job.n * int(math.Round(float64(gptImageOutputTokens[job.quality])*float64(job.w*job.h)/(1024*1024)))
		u.TotalTokens = u.InputTokens + u.OutputTokens
		resp.Usage = u
	}
	e.finish(w, r, f, resp)
}

// seed makes image i of the job deterministic: same request, same pixels.
func (job *imageJob) seed(i int) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%dx%d|%s|%s|%d|", job.ep, job.model, job.prompt, job.w, job.h, job.quality, job.style, i)
	for _, in := range job.inputs {
		sum := sha256.Sum256(in.data)
		h.Write(sum[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// drawPicture paints a w×h picture from seed: a background colour, a rectangle, a disc and a
// band, all placed and coloured by the seed.
func drawPicture(seed [32]byte, w, h int, transparent bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	bg := color.NRGBA{seed[0], seed[1], seed[2], 255}
	if transparent {
		bg.A = 0
	}
	rectC := color.NRGBA{255 - seed[0], 255 - seed[1], 255 - seed[2], 255}
	discC := color.NRGBA{seed[3], seed[4], seed[5], 255}
	bandC := color.NRGBA{seed[6], 255 - seed[7], seed[8], 255}
	span := func(y, x0, x1 int, c color.NRGBA) {
		x0, x1 = max(x0, 0), min(x1, w)
		if y < 0 || y >= h || x0 >= x1 {
			return
		}
		row := img.Pix[y*img.Stride+x0*4 : y*img.Stride+x1*4]
		for k := 0; k < len(row); k += 4 {
			row[k], row[k+1], row[k+2], row[k+3] = c.R, c.G, c.B, c.A
		}
	}
	span(0, 0, w, bg)
	for y := 1; y < h; y++ {
		copy(img.Pix[y*img.Stride:y*img.Stride+w*4], img.Pix[:w*4])
	}
	frac := func(b byte, n int) int { return int(b) * n / 256 }
	rx0, ry0 := frac(seed[9], w/2), frac(seed[10], h/2)
	rx1, ry1 := rx0+w/4+frac(seed[11], w/4), ry0+h/4+frac(seed[12], h/4)
	for y := ry0; y < ry1; y++ {
		span(y, rx0, rx1, rectC)
	}
	m := min(w, h)
	cx, cy := w/4+frac(seed[13], w/2), h/4+frac(seed[14], h/2)
	rad := m/8 + frac(seed[15], m/8)
	for y := cy - rad; y <= cy+rad; y++ {
		dy := float64(y - cy)
		dx := int(math.Sqrt(float64(rad*rad) - dy*dy))
		span(y, cx-dx, cx+dx+1, discC)
	}
	band := max(h/16, 1)
	for y := h - band; y < h; y++ {
		span(y, 0, w, bandC)
	}
	return img
}

func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// fileStore keeps the most recent generated images for their URLs.
type fileStore struct {
	mu    sync.Mutex
	files map[string][]byte
	order []string
	max   int
}

func newFileStore(maxFiles int) *fileStore {
	return &fileStore{files: map[string][]byte{}, max: maxFiles}
}

func (s *fileStore) put(data []byte) string {
	name := "img-" + randomID(24) + ".png"
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = data
	s.order = append(s.order, name)
	if len(s.order) > s.max {
		delete(s.files, s.order[0])
		s.order = s.order[1:]
	}
	return name
}

func (s *fileStore) get(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.files[name]
	return d, ok
}

func (e *Emulator) serveFile(w http.ResponseWriter, r *http.Request) {
	e.count(EndpointFiles)
	data, ok := e.files.get(r.PathValue("name"))
	if !ok {
		http.Error(w, "The specified blob does not exist.", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}
