package workers

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage/objstore"
)

func newLocalStore(t *testing.T) *objstore.Store {
	t.Helper()
	st, err := objstore.NewLocal(objstore.LocalConfig{Dir: t.TempDir(), SigningKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newImageAPI(t *testing.T) (*ImageAPI, *openaiemu.Emulator) {
	t.Helper()
	emu := openaiemu.New("sk-test", "gpt-image-1", "dall-e-2")
	url, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return NewImageAPI(url, "sk-test", nil), emu
}

func encodeImg(t *testing.T, w, h int, jpg bool) []byte {
	t.Helper()
	var b bytes.Buffer
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	var err error
	if jpg {
		err = jpeg.Encode(&b, m, nil)
	} else {
		err = png.Encode(&b, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func put(t *testing.T, st *objstore.Store, key string, data []byte, mime string) jobs.ImageRef {
	t.Helper()
	if _, err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), mime, ""); err != nil {
		t.Fatal(err)
	}
	return jobs.ImageRef{Key: key, MIME: mime}
}

func exists(t *testing.T, st *objstore.Store, key string) bool {
	t.Helper()
	_, err := st.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// Several images go out as image[] parts (go-openai sends one), a single one through go-openai.
func TestImageEditsSendEveryInput(t *testing.T) {
	api, emu := newImageAPI(t)
	st := newLocalStore(t)
	h := &Images{API: api, Store: st, Request: 10 * time.Second}
	in := jobs.ImagePayload{Model: "gpt-image-1", Prompt: "merge", N: 1, Size: "1024x1024", Inputs: []jobs.ImageRef{
		put(t, st, "inputs/a.png", encodeImg(t, 32, 32, false), "image/png"),
		put(t, st, "inputs/b.jpg", encodeImg(t, 16, 16, true), "image/jpeg"),
		put(t, st, "inputs/c.png", encodeImg(t, 8, 8, false), "image/png"),
	}}
	mask := put(t, st, "inputs/mask.png", encodeImg(t, 32, 32, false), "image/png")
	in.Mask = &mask
	for _, n := range []int{3, 1} {
		in.Inputs = in.Inputs[:n]
		res, err := h.call(context.Background(), jobs.TypeImageEdit, in)
		if err != nil {
			t.Fatalf("%d inputs: %v", n, err)
		}
		if got := res.Usage.InputTokensDetails.ImageTokens; got != n*openaiemu.ImageTokens || len(res.Data) != 1 {
			t.Fatalf("%d inputs: the model saw %d image tokens, answered %d images", n, got, len(res.Data))
		}
	}
	if got := emu.Requests(openaiemu.EndpointImageEdits); got != 2 {
		t.Fatalf("%d edit requests", got)
	}
	// The multi-image path reports the API's errors as go-openai does.
	emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultContentPolicy, Endpoint: openaiemu.EndpointImageEdits})
	in.Inputs = append(in.Inputs, in.Inputs[0])
	_, err := h.call(context.Background(), jobs.TypeImageEdit, in)
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest {
		t.Fatalf("error %v", err)
	}
	if je := jobs.AsError(imageUpstreamError(err)); je.Code != "content_policy_violation" || je.Status != 400 || !je.Permanent {
		t.Fatalf("mapped to %+v", je)
	}
}

// An upload that is gone is our failure: no retries, no provider call, and not "provider unavailable".
func TestImageMissingInputIsOurs(t *testing.T) {
	api, emu := newImageAPI(t)
	h := &Images{API: api, Store: newLocalStore(t), Request: 10 * time.Second, Retries: 2}
	in := jobs.ImagePayload{Model: "gpt-image-1", Prompt: "edit", N: 1, Size: "1024x1024",
		Inputs: []jobs.ImageRef{{Key: "inputs/gone.png", MIME: "image/png", Width: 8, Height: 8}}}
	err := h.withRetries(context.Background(), func(ctx context.Context) error {
		_, err := h.call(ctx, jobs.TypeImageEdit, in)
		return err
	})
	if je := jobs.AsError(err); je.Code != jobs.CodeInternal || je.Status != 500 {
		t.Fatalf("missing input: %+v", je)
	}
	if n := emu.Requests(openaiemu.EndpointImageEdits); n != 0 {
		t.Fatalf("%d provider calls for a missing input", n)
	}
}

// The provider's Retry-After reaches the caller of an image job, as it does a chat's: a busy
// provider asking for 4 s must not be answered "retry in 5 s" (our default).
func TestImageRetryAfterIsTheProviders(t *testing.T) {
	api, emu := newImageAPI(t)
	emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointImageGenerations, RetryAfter: 4 * time.Second})
	h := &Images{API: api, Store: newLocalStore(t), Request: 10 * time.Second, Retries: 0}
	in := jobs.ImagePayload{Model: "gpt-image-1", Prompt: "busy", N: 1, Size: "1024x1024"}
	err := h.withRetries(context.Background(), func(ctx context.Context) error {
		_, err := h.call(ctx, jobs.TypeImageGenerate, in)
		return err
	})
	if je := jobs.AsError(err); je.Code != jobs.CodeUnavailable || je.Status != 503 || je.RetryAfter != 4 {
		t.Fatalf("rate-limited image: %+v, want 503 %s with Retry-After 4", je, jobs.CodeUnavailable)
	}
}

// failingStore refuses to store the second result: the first must not stay behind.
type failingStore struct{ *objstore.Store }

func (f failingStore) Put(ctx context.Context, key string, r io.Reader, size int64, ct, cc string) (objstore.Object, error) {
	if strings.HasSuffix(key, "-1.png") {
		return objstore.Object{}, errors.New("disk full")
	}
	return f.Store.Put(ctx, key, r, size, ct, cc)
}

func TestImageResultsAreStoredAllOrNothing(t *testing.T) {
	st := newLocalStore(t)
	png := base64.StdEncoding.EncodeToString(encodeImg(t, 4, 4, false))
	res := openai.ImageResponse{Data: []openai.ImageResponseDataInner{{B64JSON: png}, {B64JSON: png}}}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

	h := &Images{Store: failingStore{st}}
	if out, err := h.store(context.Background(), "JOB", now, res); err == nil || out != nil {
		t.Fatalf("store = %v, %v", out, err)
	}
	if exists(t, st, "images/2026/11/30/JOB-0.png") {
		t.Fatal("the first result of a failed job stayed stored")
	}

	h = &Images{Store: st}
	out, err := h.store(context.Background(), "JOB", now, res)
	if err != nil || len(out) != 2 || out[1].Key != "images/2026/11/30/JOB-1.png" || out[1].MIME != "image/png" || out[1].Width != 4 {
		t.Fatalf("store = %+v, %v", out, err)
	}
	for name, bad := range map[string]openai.ImageResponse{
		"no images":   {},
		"only a URL":  {Data: []openai.ImageResponseDataInner{{URL: "https://example.com/a.png"}}},
		"not base64":  {Data: []openai.ImageResponseDataInner{{B64JSON: "%%%"}}},
		"not a image": {Data: []openai.ImageResponseDataInner{{B64JSON: base64.StdEncoding.EncodeToString([]byte("hello"))}}},
	} {
		_, err := h.store(context.Background(), "BAD", now, bad)
		if je := jobs.AsError(err); je.Status != 502 || je.Code != "upstream_bad_response" {
			t.Errorf("%s: %+v", name, je)
		}
	}
}

// Uploads go when the job ends, except when a shutdown interrupted it: the job goes back on its
// queue and the next worker needs them.
func TestImageInputsOutliveOnlyAShutdown(t *testing.T) {
	st := newLocalStore(t)
	stopping := false
	h := &Images{Store: st, Interrupted: func() bool { return stopping }}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		stopping bool
		kept     bool
	}{
		{"finished", context.Background(), false, false},
		{"canceled or timed out", canceled, false, false},
		{"finished while the worker stops", context.Background(), true, false},
		{"interrupted by the shutdown", canceled, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := jobs.ImagePayload{Inputs: []jobs.ImageRef{put(t, st, "inputs/x-0.png", []byte("a"), "image/png")}}
			mask := put(t, st, "inputs/x-mask.png", []byte("m"), "image/png")
			in.Mask = &mask
			stopping = tc.stopping
			h.dropInputs(tc.ctx, in, nil)
			if exists(t, st, in.Inputs[0].Key) != tc.kept || exists(t, st, mask.Key) != tc.kept {
				t.Fatalf("kept = %v, want %v", !tc.kept, tc.kept)
			}
		})
	}
}

func TestImageUpstreamErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{&openai.APIError{HTTPStatusCode: 400, Code: "content_policy_violation", Message: "safety system"}, "content_policy_violation", 400},
		{&openai.APIError{HTTPStatusCode: 400, Code: "invalid_value", Message: "bad size"}, "upstream_rejected", 400},
		{&openai.APIError{HTTPStatusCode: 429, Code: "rate_limit_exceeded"}, jobs.CodeUnavailable, 503},
		{&openai.RequestError{HTTPStatusCode: 502}, jobs.CodeUnavailable, 503},
		{context.DeadlineExceeded, jobs.CodeUnavailable, 503},
		{&openai.APIError{HTTPStatusCode: 401}, "upstream_misconfigured", 502},
	} {
		je := jobs.AsError(imageUpstreamError(tc.err))
		if je.Code != tc.code || je.Status != tc.status {
			t.Errorf("%v → %+v, want %s %d", tc.err, je, tc.code, tc.status)
		}
	}
	if upstreamFormat("gpt-image-1") != "" || upstreamFormat("dall-e-3") != "b64_json" || upstreamFormat("my-model") != "b64_json" {
		t.Error("upstreamFormat asks GPT image models for a format, or others for URLs")
	}
}
