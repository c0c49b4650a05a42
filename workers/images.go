package workers

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/imagefmt"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage/objstore"
)

// ObjectStore is what image jobs need of the object store (objstore.Store).
type ObjectStore interface {
	ImageReader // the uploads, as chat's vision input reads them
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) (objstore.Object, error)
}

// Images runs the image jobs: it reads the caller's uploads from the object store, calls the
// images API (retrying what a retry can fix), stores every result as
// objstore.ImageResultKey, and deletes the uploads once the job is over.
type Images struct {
	API   *ImageAPI
	Store ObjectStore
	// Request bounds one upstream call; Retries are the attempts after the first.
	Request time.Duration
	Retries int
	// Interrupted reports a worker shutdown: a job it interrupts goes back on its queue and
	// keeps its uploads for the next worker.
	Interrupted func() bool
}

// resultCache: results never change under their key.
const resultCache = "private, max-age=86400, immutable"

// Handle is the job handler of all three image task types.
func (h *Images) Handle(ctx context.Context, t *asynq.Task) (any, error) {
	in, err := jobs.Decode[jobs.ImagePayload](t)
	if err != nil {
		return nil, err
	}
	jobID, _ := asynq.GetTaskID(ctx)
	res, err := h.run(ctx, t.Type(), jobID, in)
	h.dropInputs(ctx, in, err)
	return res, err
}

// run is one attempt. A re-run (after a worker died) stores its results under the same names.
func (h *Images) run(ctx context.Context, taskType, jobID string, in jobs.ImagePayload) (any, error) {
	var res openai.ImageResponse
	err := h.withRetries(ctx, func(ctx context.Context) (err error) {
		res, err = h.call(ctx, taskType, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	images, err := h.store(ctx, jobID, now, res)
	if err != nil {
		return nil, err
	}
	return jobs.ImageResult{Success: true, Images: images, Model: in.Model, JobID: jobID, Created: now.Unix(),
		ResponseFormat: in.ResponseFormat}, nil
}

// withRetries runs call with a per-attempt time limit, retrying rate limits, server errors and
// timeouts with backoff or the provider's Retry-After, as chat does; what is left over becomes
// the caller's error, carrying the provider's Retry-After when it gave one.
func (h *Images) withRetries(ctx context.Context, call func(context.Context) error) error {
	hint := &retryHint{}
	return retryUpstream(ctx, h.Retries, hint, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, h.Request)
		defer cancel()
		return call(cctx)
	}, func(last error) error { return hint.passOn(imageUpstreamError(last)) })
}

// call makes one request of the task's kind, reading the uploads afresh for each attempt.
func (h *Images) call(ctx context.Context, taskType string, in jobs.ImagePayload) (openai.ImageResponse, error) {
	format := upstreamFormat(in.Model)
	if taskType == jobs.TypeImageGenerate {
		return h.API.generate(ctx, openai.ImageRequest{Prompt: in.Prompt, Model: in.Model, N: in.N, Size: in.Size,
			Quality: in.Quality, Style: in.Style, ResponseFormat: format})
	}
	uploads, closeAll, err := h.open(ctx, in)
	defer closeAll()
	if err != nil {
		// Our store, not the provider: retrying or answering "provider unavailable" would mislead.
		return openai.ImageResponse{}, &jobs.Error{Code: jobs.CodeInternal, Message: "an input image could not be read",
			Status: 500, Permanent: true}
	}
	if taskType == jobs.TypeImageVariation {
		return h.API.variation(ctx, uploads[0], in.N, in.Size, format)
	}
	c := editCall{images: uploads[:len(in.Inputs)], prompt: in.Prompt, model: in.Model, n: in.N, size: in.Size,
		quality: in.Quality, format: format}
	if in.Mask != nil {
		c.mask = &uploads[len(in.Inputs)]
	}
	return h.API.edit(ctx, c)
}

// open opens the inputs (then the mask) in the object store.
func (h *Images) open(ctx context.Context, in jobs.ImagePayload) ([]upload, func(), error) {
	refs := in.Inputs
	if in.Mask != nil {
		refs = append(refs[:len(refs):len(refs)], *in.Mask)
	}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	out := make([]upload, 0, len(refs))
	for i, ref := range refs {
		r, _, err := h.Store.Get(ctx, ref.Key)
		if err != nil {
			return nil, closeAll, fmt.Errorf("read upload %s: %w", ref.Key, err)
		}
		closers = append(closers, r)
		name := fmt.Sprintf("image-%d%s", i, path.Ext(ref.Key)) // the api named the key by its real format
		if in.Mask != nil && i == len(refs)-1 {
			name = "mask.png"
		}
		out = append(out, upload{r: r, name: name, mime: ref.MIME})
	}
	return out, closeAll, nil
}

// upstreamFormat asks for the bytes themselves where the model lets us choose: a URL would
// mean a second download from a host that may expire it. GPT image models always answer with
// base64 and refuse the parameter.
func upstreamFormat(model string) string {
	if strings.HasPrefix(model, "gpt-image") || strings.HasPrefix(model, "chatgpt-image") {
		return ""
	}
	return openai.CreateImageResponseFormatB64JSON
}

// store puts every answered image in the object store. Either all are stored or none is.
func (h *Images) store(ctx context.Context, jobID string, now time.Time, res openai.ImageResponse) (out []jobs.Image, err error) {
	if len(res.Data) == 0 {
		return nil, errBadImages("the image provider answered without images")
	}
	defer func() {
		if err != nil {
			for _, img := range out {
				h.delete(ctx, img.Key)
			}
			out = nil
		}
	}()
	for i, d := range res.Data {
		data, derr := base64.StdEncoding.DecodeString(d.B64JSON)
		if d.B64JSON == "" || derr != nil {
			return out, errBadImages("the image provider answered without image data")
		}
		info, derr := imagefmt.Detect(data)
		if derr != nil {
			return out, errBadImages("the image provider answered with an unreadable image")
		}
		key := objstore.ImageResultKey(now, jobID, i, info.Ext)
		if _, err := h.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), info.MIME, resultCache); err != nil {
			return out, fmt.Errorf("store result %s: %w", key, err)
		}
		out = append(out, jobs.Image{Key: key, MIME: info.MIME, Width: info.Width, Height: info.Height, RevisedPrompt: d.RevisedPrompt})
	}
	return out, nil
}

func errBadImages(msg string) error {
	return &jobs.Error{Code: "upstream_bad_response", Message: msg, Status: 502, Permanent: true}
}

// dropInputs deletes the caller's uploads when the job is over, whatever its outcome, except
// when another attempt follows: a shutdown interrupted it, or it failed in a way asynq retries.
// (A worker that dies never gets here: the uploads wait for the re-run.)
func (h *Images) dropInputs(ctx context.Context, in jobs.ImagePayload, err error) {
	if ctx.Err() != nil && h.Interrupted != nil && h.Interrupted() || willRetry(ctx, err) {
		return
	}
	for _, ref := range in.Inputs {
		h.delete(ctx, ref.Key)
	}
	if in.Mask != nil {
		h.delete(ctx, in.Mask.Key)
	}
}

// delete removes an object also when the job's context has ended: cleanup must happen then too.
func (h *Images) delete(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = h.Store.Delete(ctx, key)
}

// imageUpstreamError is upstreamError with the images API's own refusal: a prompt or image its
// content policy rejects is the caller's to change, never retried.
func imageUpstreamError(err error) error {
	var api *openai.APIError
	if errors.As(err, &api) && fmt.Sprint(api.Code) == "content_policy_violation" {
		msg := "the image provider refused the request under its content policy"
		if api.Message != "" {
			msg += ": " + truncate(api.Message, 300)
		}
		return jobs.Permanent("content_policy_violation", msg, 400)
	}
	return upstreamError(err)
}
