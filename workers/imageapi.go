package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// ImageAPI calls the images endpoints of an OpenAI-compatible API through go-openai.
type ImageAPI struct {
	client  *openai.Client
	http    *http.Client
	baseURL string
	key     string
}

// NewImageAPI builds the images client, measured like the chat client.
func NewImageAPI(baseURL, key string, m *Metrics) *ImageAPI {
	hc := openAIHTTP(m)
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL, cfg.HTTPClient = baseURL, hc
	return &ImageAPI{client: openai.NewClientWithConfig(cfg), http: hc, baseURL: strings.TrimRight(baseURL, "/"), key: key}
}

// upload is an image sent to the API.
type upload struct {
	r    io.Reader
	name string // file name; its extension matches mime
	mime string
}

// formFile is a file part of a multipart request.
type formFile struct {
	field string
	up    upload
}

// editCall is one /images/edits request.
type editCall struct {
	images                               []upload
	mask                                 *upload
	prompt, model, size, quality, format string
	n                                    int
}

func (a *ImageAPI) generate(ctx context.Context, req openai.ImageRequest) (openai.ImageResponse, error) {
	return a.client.CreateImage(ctx, req)
}

func (a *ImageAPI) variation(ctx context.Context, img upload, n int, size, format string) (openai.ImageResponse, error) {
	return a.client.CreateVariImage(ctx, openai.ImageVariRequest{
		Image: openai.WrapReader(img.r, img.name, img.mime), N: n, Size: size, ResponseFormat: format})
}

func (a *ImageAPI) edit(ctx context.Context, c editCall) (openai.ImageResponse, error) {
	if len(c.images) > 1 {
		return a.editMany(ctx, c)
	}
	req := openai.ImageEditRequest{Image: openai.WrapReader(c.images[0].r, c.images[0].name, c.images[0].mime),
		Prompt: c.prompt, Model: c.model, N: c.n, Size: c.size, Quality: c.quality, ResponseFormat: c.format}
	if c.mask != nil {
		req.Mask = openai.WrapReader(c.mask.r, c.mask.name, c.mask.mime)
	}
	return a.client.CreateEditImage(ctx, req)
}

// editMany sends an edit of several images. go-openai (v1.43) writes a single `image` part, so
// this request is built here, as the API document describes it (`image[]` parts), and goes
// through the same measured client; answers and errors decode into go-openai's own types, so
// callers handle both paths alike.
func (a *ImageAPI) editMany(ctx context.Context, c editCall) (openai.ImageResponse, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	files := make([]formFile, 0, len(c.images)+1)
	for _, img := range c.images {
		files = append(files, formFile{"image[]", img})
	}
	if c.mask != nil {
		files = append(files, formFile{"mask", *c.mask})
	}
	for _, p := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.up.name))
		h.Set("Content-Type", p.up.mime)
		w, err := mw.CreatePart(h)
		if err != nil {
			return openai.ImageResponse{}, err
		}
		if _, err := io.Copy(w, p.up.r); err != nil {
			return openai.ImageResponse{}, err
		}
	}
	fields := [][2]string{{"prompt", c.prompt}, {"model", c.model}, {"n", strconv.Itoa(c.n)}, {"size", c.size},
		{"quality", c.quality}, {"response_format", c.format}}
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return openai.ImageResponse{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return openai.ImageResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+"/images/edits", &body)
	if err != nil {
		return openai.ImageResponse{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	return a.send(req)
}

// send does a request and decodes the answer, or the error, as go-openai would.
func (a *ImageAPI) send(req *http.Request) (openai.ImageResponse, error) {
	var out openai.ImageResponse
	res, err := a.http.Do(req)
	if err != nil {
		return out, err
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		var e openai.ErrorResponse
		if json.Unmarshal(raw, &e) != nil || e.Error == nil {
			return out, &openai.RequestError{HTTPStatus: res.Status, HTTPStatusCode: res.StatusCode, Body: raw,
				Err: fmt.Errorf("status %d", res.StatusCode)}
		}
		e.Error.HTTPStatus, e.Error.HTTPStatusCode = res.Status, res.StatusCode
		return out, e.Error
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode images answer: %w", err)
	}
	return out, nil
}
