package openaiemu_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/emulators/openai"
)

type imagesResp struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
	Background   string `json:"background"`
	OutputFormat string `json:"output_format"`
	Size         string `json:"size"`
	Quality      string `json:"quality"`
	Usage        *struct {
		TotalTokens        int `json:"total_tokens"`
		InputTokens        int `json:"input_tokens"`
		OutputTokens       int `json:"output_tokens"`
		InputTokensDetails struct {
			TextTokens  int `json:"text_tokens"`
			ImageTokens int `json:"image_tokens"`
		} `json:"input_tokens_details"`
	} `json:"usage"`
}

func (h *harness) images(r response) imagesResp {
	h.t.Helper()
	if r.status != 200 {
		h.t.Fatalf("status %d: %s", r.status, r.body)
	}
	validate(h.t, "ImagesResponse", r.body)
	var out imagesResp
	if err := json.Unmarshal(r.body, &out); err != nil {
		h.t.Fatal(err)
	}
	if out.Created == 0 {
		h.t.Error("created missing")
	}
	return out
}

// picture decodes one answer image (b64_json, or url downloaded without the API key).
func (h *harness) picture(b64, url string) (image.Image, string) {
	h.t.Helper()
	var data []byte
	if url != "" {
		resp, err := http.Get(url)
		if err != nil {
			h.t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			h.t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		data, _ = io.ReadAll(resp.Body)
	} else {
		var err error
		if data, err = base64.StdEncoding.DecodeString(b64); err != nil {
			h.t.Fatal(err)
		}
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		h.t.Fatalf("image does not decode: %v", err)
	}
	return img, format
}

func wantSize(t *testing.T, img image.Image, w, h int) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("image %v, want %dx%d", b, w, h)
	}
}

func TestImageGenerations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	out := h.images(h.postJSON("/images/generations", map[string]any{"model": "dall-e-2", "prompt": "a red fox", "n": 2, "size": "256x256"}, nil))
	if len(out.Data) != 2 || out.Usage != nil || out.Size != "" {
		t.Fatalf("dall-e-2: %+v", out)
	}
	for _, d := range out.Data {
		if d.URL == "" || d.B64JSON != "" || !strings.Contains(d.URL, "/files/img-") {
			t.Fatalf("want a url: %+v", d)
		}
		img, format := h.picture("", d.URL)
		if format != "png" {
			t.Errorf("format %s", format)
		}
		wantSize(t, img, 256, 256)
	}
	if n := h.emu.Requests(openaiemu.EndpointFiles); n != 2 {
		t.Errorf("file downloads %d", n)
	}
	resp, err := http.Get(strings.TrimSuffix(h.base, "/v1") + "/files/img-missing.png")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("missing file: %v %v", resp, err)
	}
	resp.Body.Close()

	// Same request, same pixels; another prompt, other pixels.
	gen := func(prompt string) string {
		out := h.images(h.postJSON("/images/generations", map[string]any{"prompt": prompt, "size": "512x512", "response_format": "b64_json"}, nil))
		img, _ := h.picture(out.Data[0].B64JSON, "")
		wantSize(t, img, 512, 512)
		return out.Data[0].B64JSON
	}
	if a, b, c := gen("a red fox"), gen("a red fox"), gen("a blue whale"); a != b || a == c {
		t.Error("pictures are not deterministic per prompt")
	}

	out = h.images(h.postJSON("/images/generations", map[string]any{"model": "dall-e-3", "prompt": "a lighthouse", "size": "1792x1024", "quality": "hd", "style": "natural", "response_format": "b64_json"}, nil))
	if out.Data[0].RevisedPrompt == "" {
		t.Error("dall-e-3 revised_prompt missing")
	}
	img, _ := h.picture(out.Data[0].B64JSON, "")
	wantSize(t, img, 1792, 1024)

	out = h.images(h.postJSON("/images/generations", map[string]any{"model": "gpt-image-1", "prompt": "a tiny robot", "quality": "low", "background": "transparent"}, nil))
	if out.Data[0].B64JSON == "" || out.Data[0].URL != "" || out.Size != "1024x1024" || out.Quality != "low" ||
		out.Background != "transparent" || out.OutputFormat != "png" || out.Usage == nil {
		t.Fatalf("gpt-image-1: %+v", out)
	}
	if u := out.Usage; u.OutputTokens != 272 || u.InputTokensDetails.TextTokens != openaiemu.CountTokens("a tiny robot") || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Errorf("usage %+v", *u)
	}
	img, _ = h.picture(out.Data[0].B64JSON, "")
	wantSize(t, img, 1024, 1024)
	transparent := false
	for x := range 1024 {
		if _, _, _, a := img.At(x, 0).RGBA(); a == 0 {
			transparent = true
		}
	}
	if !transparent {
		t.Error("transparent background has no transparent pixel on the top row")
	}

	out = h.images(h.postJSON("/images/generations", map[string]any{"model": "gpt-image-1", "prompt": "a jpeg", "size": "1536x1024", "output_format": "jpeg", "output_compression": 50}, nil))
	img, format := h.picture(out.Data[0].B64JSON, "")
	if format != "jpeg" || out.OutputFormat != "jpeg" {
		t.Errorf("format %s / %s", format, out.OutputFormat)
	}
	wantSize(t, img, 1536, 1024)

	r := h.postJSON("/images/generations", map[string]any{"model": "gpt-image-2", "prompt": "wide", "size": "768x256"}, nil)
	if r.status != 200 {
		t.Fatalf("gpt-image-2 custom size: %s", r.body)
	}
	var custom imagesResp
	_ = json.Unmarshal(r.body, &custom)
	img, _ = h.picture(custom.Data[0].B64JSON, "")
	wantSize(t, img, 768, 256)
}

func TestImageGenerationValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, tc := range map[string]struct {
		body               map[string]any
		status             int
		code, param, inMsg string
	}{
		"missing prompt":       {map[string]any{"model": "dall-e-2"}, 400, "missing_required_parameter", "prompt", ""},
		"empty prompt":         {map[string]any{"prompt": ""}, 400, "empty_string", "prompt", ""},
		"long prompt":          {map[string]any{"prompt": strings.Repeat("a", 1001)}, 400, "string_above_max_length", "prompt", "maximum length 1000"},
		"size for model":       {map[string]any{"prompt": "x", "size": "1792x1024"}, 400, "invalid_value", "size", "Supported values are: '256x256', '512x512', and '1024x1024'."},
		"gpt size":             {map[string]any{"prompt": "x", "model": "gpt-image-1", "size": "256x256"}, 400, "invalid_value", "size", ""},
		"gpt-image-2 odd size": {map[string]any{"prompt": "x", "model": "gpt-image-2", "size": "1000x1000"}, 400, "invalid_value", "size", ""},
		"n zero":               {map[string]any{"prompt": "x", "n": 0}, 400, "integer_below_min_value", "n", ""},
		"n eleven":             {map[string]any{"prompt": "x", "n": 11}, 400, "integer_above_max_value", "n", "Expected a value <= 10"},
		"dall-e-3 n":           {map[string]any{"prompt": "x", "model": "dall-e-3", "n": 2}, 400, "integer_above_max_value", "n", "Expected a value <= 1"},
		"n string":             {map[string]any{"prompt": "x", "n": "2"}, 400, "invalid_type", "n", ""},
		"gpt response_format":  {map[string]any{"prompt": "x", "model": "gpt-image-1", "response_format": "url"}, 400, "unknown_parameter", "response_format", "Unknown parameter: 'response_format'."},
		"bad response_format":  {map[string]any{"prompt": "x", "response_format": "gif"}, 400, "invalid_value", "response_format", ""},
		"gpt quality hd":       {map[string]any{"prompt": "x", "model": "gpt-image-1", "quality": "hd"}, 400, "invalid_value", "quality", ""},
		"style":                {map[string]any{"prompt": "x", "model": "dall-e-3", "style": "noir"}, 400, "invalid_value", "style", ""},
		"webp":                 {map[string]any{"prompt": "x", "model": "gpt-image-1", "output_format": "webp"}, 400, "emulator_unsupported", "output_format", ""},
		"unknown model":        {map[string]any{"prompt": "x", "model": "dall-e-9"}, 404, "model_not_found", "", ""},
		"chat model":           {map[string]any{"prompt": "x", "model": "gpt-4o-mini"}, 400, "invalid_value", "model", ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, h.postJSON("/images/generations", tc.body, nil), tc.status, "invalid_request_error", tc.code, tc.param)
			if !strings.Contains(e["message"].(string), tc.inMsg) {
				t.Errorf("message %q lacks %q", e["message"], tc.inMsg)
			}
		})
	}
}

type filePart struct {
	field, name, ctype string
	data               []byte
}

func multipartBody(t *testing.T, fields map[string]string, files ...filePart) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", `form-data; name="`+f.field+`"; filename="`+f.name+`"`)
		if f.ctype != "" {
			hdr.Set("Content-Type", f.ctype)
		}
		w, err := mw.CreatePart(hdr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func (h *harness) postForm(path string, fields map[string]string, files ...filePart) response {
	h.t.Helper()
	ct, body := multipartBody(h.t, fields, files...)
	return h.do(http.MethodPost, path, ct, body, nil)
}

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImageEdits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rgba := pngBytes(t, 64, 64, true)
	rgb := pngBytes(t, 64, 64, false)

	out := h.images(h.postForm("/images/edits", map[string]string{"model": "gpt-image-1", "prompt": "add a hat", "quality": "low"},
		filePart{"image", "in.png", "image/png", rgb}))
	img, _ := h.picture(out.Data[0].B64JSON, "")
	wantSize(t, img, 1024, 1024)
	if out.Usage == nil || out.Usage.InputTokensDetails.ImageTokens != openaiemu.ImageTokens {
		t.Errorf("usage %+v", out.Usage)
	}

	out = h.images(h.postForm("/images/edits", map[string]string{"model": "gpt-image-1", "prompt": "merge", "size": "1024x1536", "n": "2"},
		filePart{"image[]", "a.png", "image/png", rgb}, filePart{"image[]", "b.jpg", "image/jpeg", jpegBytes(t, 32, 32)},
		filePart{"mask", "m.png", "image/png", rgba}))
	if len(out.Data) != 2 || out.Usage.InputTokensDetails.ImageTokens != 2*openaiemu.ImageTokens {
		t.Errorf("multi-image edit: %d images, usage %+v", len(out.Data), out.Usage)
	}
	img, _ = h.picture(out.Data[1].B64JSON, "")
	wantSize(t, img, 1024, 1536)

	// What go-openai's CreateEditImage sends: image, prompt, n, size and response_format,
	// unset ones as empty strings; no model field (the spec's default model applies).
	out = h.images(h.postForm("/images/edits", map[string]string{"prompt": "go-openai", "n": "1", "size": "", "response_format": ""},
		filePart{"image", "in.png", "image/png", rgb}))
	if out.Data[0].B64JSON == "" {
		t.Errorf("default edit model answers b64_json: %+v", out.Data[0])
	}

	// dall-e-2: square PNG with transparency (or a mask), url answers.
	out = h.images(h.postForm("/images/edits", map[string]string{"model": "dall-e-2", "prompt": "paint", "size": "256x256"},
		filePart{"image", "in.png", "image/png", rgba}))
	img, _ = h.picture("", out.Data[0].URL)
	wantSize(t, img, 256, 256)

	for name, tc := range map[string]struct {
		fields             map[string]string
		files              []filePart
		status             int
		code, param, inMsg string
	}{
		"octet-stream":     {map[string]string{"model": "gpt-image-1", "prompt": "x"}, []filePart{{"image", "in.png", "", rgb}}, 400, "unsupported_file_mimetype", "image", "unsupported mimetype ('application/octet-stream'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'."},
		"array member":     {map[string]string{"model": "gpt-image-1", "prompt": "x"}, []filePart{{"image[]", "a.png", "image/png", rgb}, {"image[]", "b.gif", "image/gif", rgb}}, 400, "unsupported_file_mimetype", "image[1]", ""},
		"dall-e-2 jpeg":    {map[string]string{"model": "dall-e-2", "prompt": "x"}, []filePart{{"image", "a.jpg", "image/jpeg", jpegBytes(t, 8, 8)}}, 400, "unsupported_file_mimetype", "image", "Supported file formats are 'image/png'."},
		"dall-e-2 RGB":     {map[string]string{"model": "dall-e-2", "prompt": "x"}, []filePart{{"image", "a.png", "image/png", rgb}}, 400, "", "", "format must be in ['RGBA', 'LA', 'L'], got RGB"},
		"mask size":        {map[string]string{"model": "dall-e-2", "prompt": "x"}, []filePart{{"image", "a.png", "image/png", rgb}, {"mask", "m.png", "image/png", pngBytes(t, 32, 32, true)}}, 400, "invalid_value", "mask", ""},
		"not an image":     {map[string]string{"model": "gpt-image-1", "prompt": "x"}, []filePart{{"image", "a.png", "image/png", []byte("nope")}}, 400, "invalid_image_file", "image", ""},
		"missing prompt":   {map[string]string{"model": "gpt-image-1"}, []filePart{{"image", "a.png", "image/png", rgb}}, 400, "missing_required_parameter", "prompt", ""},
		"missing image":    {map[string]string{"model": "gpt-image-1", "prompt": "x"}, nil, 400, "missing_required_parameter", "image", ""},
		"go-openai n zero": {map[string]string{"prompt": "x", "n": "0"}, []filePart{{"image", "a.png", "image/png", rgb}}, 400, "integer_below_min_value", "n", ""},
		"dall-e-3":         {map[string]string{"model": "dall-e-3", "prompt": "x"}, []filePart{{"image", "a.png", "image/png", rgb}}, 400, "invalid_value", "model", ""},
		"dall-e-2 size":    {map[string]string{"model": "dall-e-2", "prompt": "x", "size": "1536x1024"}, []filePart{{"image", "a.png", "image/png", rgba}}, 400, "invalid_value", "size", ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, h.postForm("/images/edits", tc.fields, tc.files...), tc.status, "invalid_request_error", tc.code, tc.param)
			if !strings.Contains(e["message"].(string), tc.inMsg) {
				t.Errorf("message %q lacks %q", e["message"], tc.inMsg)
			}
		})
	}
	wantError(t, h.postJSON("/images/edits", map[string]any{"prompt": "x"}, nil), 400, "invalid_request_error", "", "")
}

func TestImageVariations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := pngBytes(t, 48, 48, false)
	out := h.images(h.postForm("/images/variations", map[string]string{"n": "3", "size": "256x256"},
		filePart{"image", "in.png", "image/png", src}))
	if len(out.Data) != 3 {
		t.Fatalf("%d images", len(out.Data))
	}
	seen := map[string]bool{}
	for _, d := range out.Data {
		img, _ := h.picture("", d.URL)
		wantSize(t, img, 256, 256)
		var buf bytes.Buffer
		_ = png.Encode(&buf, img)
		seen[buf.String()] = true
	}
	if len(seen) != 3 {
		t.Error("variations are identical")
	}
	out = h.images(h.postForm("/images/variations", map[string]string{"model": "dall-e-2", "response_format": "b64_json", "size": "512x512"},
		filePart{"image", "in.png", "image/png", src}))
	img, _ := h.picture(out.Data[0].B64JSON, "")
	wantSize(t, img, 512, 512)

	for name, tc := range map[string]struct {
		fields             map[string]string
		files              []filePart
		status             int
		code, param, inMsg string
	}{
		"jpeg bytes":  {nil, []filePart{{"image", "a.png", "image/png", jpegBytes(t, 8, 8)}}, 400, "", "", "Uploaded image must be a PNG and less than 4 MB."},
		"jpeg type":   {nil, []filePart{{"image", "a.jpg", "image/jpeg", jpegBytes(t, 8, 8)}}, 400, "unsupported_file_mimetype", "image", ""},
		"not square":  {nil, []filePart{{"image", "a.png", "image/png", pngBytes(t, 40, 20, false)}}, 400, "", "", "square"},
		"gpt model":   {map[string]string{"model": "gpt-image-1"}, []filePart{{"image", "a.png", "image/png", src}}, 400, "invalid_value", "model", "Value must be 'dall-e-2'."},
		"size":        {map[string]string{"size": "1792x1024"}, []filePart{{"image", "a.png", "image/png", src}}, 400, "invalid_value", "size", ""},
		"n too many":  {map[string]string{"n": "11"}, []filePart{{"image", "a.png", "image/png", src}}, 400, "integer_above_max_value", "n", ""},
		"no image":    {map[string]string{"n": "1"}, nil, 400, "missing_required_parameter", "image", ""},
		"bad n":       {map[string]string{"n": "two"}, []filePart{{"image", "a.png", "image/png", src}}, 400, "invalid_type", "n", ""},
		"two images":  {nil, []filePart{{"image", "a.png", "image/png", src}, {"image", "b.png", "image/png", src}}, 400, "array_above_max_length", "image", ""},
		"bad rformat": {map[string]string{"response_format": "png"}, []filePart{{"image", "a.png", "image/png", src}}, 400, "invalid_value", "response_format", ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, h.postForm("/images/variations", tc.fields, tc.files...), tc.status, "invalid_request_error", tc.code, tc.param)
			if !strings.Contains(e["message"].(string), tc.inMsg) {
				t.Errorf("message %q lacks %q", e["message"], tc.inMsg)
			}
		})
	}
}
