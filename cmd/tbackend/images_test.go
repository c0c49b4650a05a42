package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/internal/testwait"
)

// imageEnv is `tbackend dev` on the test Redis and a controllable emulator, storing objects in
// a local directory or in a fresh bucket of the MinIO that CI runs.
type imageEnv struct {
	*chatEnv
	dir    string        // local store
	s3     *minio.Client // S3 store
	bucket string
}

func newImageEnv(t *testing.T, backend string, env ...string) *imageEnv {
	t.Helper()
	e := &imageEnv{}
	if backend == "s3" {
		e.s3, e.bucket = s3Bucket(t)
		env = append(env, "S3_ENDPOINT", os.Getenv("S3_ENDPOINT"), "S3_ACCESS_KEY", os.Getenv("S3_ACCESS_KEY"),
			"S3_SECRET_KEY", os.Getenv("S3_SECRET_KEY"), "S3_USE_SSL", os.Getenv("S3_USE_SSL"), "S3_BUCKET", e.bucket)
	}
	e.chatEnv = newChatEnv(t, env...)
	e.dir = e.storage
	return e
}

// s3Bucket names a fresh bucket on CI's MinIO (skipping without one, failing in CI) and removes
// it with everything in it when the test ends.
func s3Bucket(t *testing.T) (*minio.Client, string) {
	t.Helper()
	endpoint := os.Getenv("S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("S3_ENDPOINT is not set but CI=true: run through .ci/with-services")
		}
		t.Skip("S3_ENDPOINT not set; skipping the MinIO variant (make test runs it)")
	}
	ssl, _ := strconv.ParseBool(os.Getenv("S3_USE_SSL"))
	client, err := minio.New(endpoint, &minio.Options{Secure: ssl, Region: "us-east-1",
		Creds: credentials.NewStaticV4(os.Getenv("S3_ACCESS_KEY"), os.Getenv("S3_SECRET_KEY"), "")})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "images-e2e-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove bucket %s: %v", bucket, err)
		}
	})
	return client, bucket
}

// objects lists the stored keys under prefix (the local store's sidecars left out).
func (e *imageEnv) objects(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	if e.s3 != nil {
		for o := range e.s3.ListObjects(context.Background(), e.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			out = append(out, o.Key)
		}
		return out
	}
	_ = filepath.Walk(filepath.Join(e.dir, prefix), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(info.Name(), ".") {
			rel, _ := filepath.Rel(e.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func (e *imageEnv) post(t *testing.T, path, body string, hdr ...string) reply {
	t.Helper()
	return e.spec.call(t, "POST", e.base+path, e.key, body, hdr...)
}

type part struct {
	field, name string
	data        []byte
}

func (e *imageEnv) postForm(t *testing.T, path string, fields map[string]string, files ...part) reply {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		_, _ = w.Write(f.data)
	}
	_ = mw.Close()
	return e.post(t, path, buf.String(), "Content-Type", mw.FormDataContentType())
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

var resultKey = regexp.MustCompile(`^images/(\d{4}/\d{2}/\d{2})/([A-Z0-9]+)-(\d+)\.png$`)

// rawURL finds the image URLs in an answer's bytes as a client pasting them from curl sees them.
var rawURL = regexp.MustCompile(`"url":"([^"]*)"`)

// checkImages checks a successful answer: n images of w×h stored under their job's key, each
// downloading byte-identical (to its base64 too, when given) from its URL with its content type.
// The URLs are taken from the raw bytes of the answer, not from a JSON decoder: they must work as
// printed (an HTML-escaped `&` as \u0026 breaks the signature).
func (e *imageEnv) checkImages(t *testing.T, r reply, n, w, h int) []any {
	t.Helper()
	if r.status != 200 || r.body["success"] != true {
		t.Fatalf("status %d: %.500s", r.status, r.raw)
	}
	jobID := r.body["job_id"].(string)
	images := r.body["images"].([]any)
	if len(images) != n || r.header.Get("X-Job-Id") != jobID {
		t.Fatalf("%d images (want %d), X-Job-Id %q: %.300s", len(images), n, r.header.Get("X-Job-Id"), r.raw)
	}
	urls := rawURL.FindAllStringSubmatch(r.raw, -1)
	if len(urls) != n {
		t.Fatalf("%d URLs in the raw answer, want %d: %.300s", len(urls), n, r.raw)
	}
	for i, raw := range images {
		img := raw.(map[string]any)
		if u := urls[i][1]; u != img["url"] || !strings.Contains(u, "&") {
			t.Fatalf("image %d: raw URL %q, decoded %q", i, u, img["url"])
		}
		m := resultKey.FindStringSubmatch(img["key"].(string))
		if m == nil || m[1] != time.Now().UTC().Format("2006/01/02") || m[2] != jobID || m[3] != strconv.Itoa(i) {
			t.Fatalf("image %d key %q", i, img["key"])
		}
		if img["mime"] != "image/png" || img["width"] != float64(w) || img["height"] != float64(h) {
			t.Fatalf("image %d: %v", i, img)
		}
		data, ctype := download(t, urls[i][1])
		if ctype != "image/png" {
			t.Fatalf("image %d downloads as %q", i, ctype)
		}
		if b, ok := img["b64_json"].(string); ok && b != b64(data) {
			t.Fatalf("image %d: the download differs from b64_json", i)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "png" || cfg.Width != w || cfg.Height != h {
			t.Fatalf("image %d downloads as %s %dx%d: %v", i, format, cfg.Width, cfg.Height, err)
		}
	}
	return images
}

func download(t *testing.T, u string) ([]byte, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, data)
	}
	return data, res.Header.Get("Content-Type")
}

func TestImagesLocalStore(t *testing.T) {
	testImageRoutes(t, newImageEnv(t, "local", "IMAGE_URL_TTL", "10m"))
}

func TestImagesMinIO(t *testing.T) { testImageRoutes(t, newImageEnv(t, "s3", "IMAGE_URL_TTL", "10m")) }

// testImageRoutes runs every route end to end through api, Redis, worker and object store.
func testImageRoutes(t *testing.T, e *imageEnv) {
	t.Run("generate", func(t *testing.T) {
		r := e.post(t, "/images/generate", `{"prompt":"a red fox","n":2,"size":"1024x1536","response_format":"b64_json"}`)
		imgs := e.checkImages(t, r, 2, 1024, 1536)
		if r.body["model"] != "gpt-image-1" || r.body["response_format"] != "b64_json" {
			t.Fatalf("answer %.300s", r.raw)
		}
		u := imgs[0].(map[string]any)["url"].(string)
		checkTTL(t, u, 10*time.Minute)
		// The store listed here is the one the service used, and its URLs are its own kind.
		if stored := e.objects(t, "images/"); len(stored) != 2 || (e.s3 != nil) != strings.Contains(u, "X-Amz-Signature=") {
			t.Fatalf("stored %v, URL %s", stored, u)
		}
	})
	t.Run("edit", func(t *testing.T) {
		r := e.post(t, "/images/edit", asJSON(t, map[string]any{"prompt": "add a hat", "size": "1024x1024",
			"input_images": []string{b64(pngOf(t, 64, 64)), "data:image/png;base64," + b64(pngOf(t, 32, 32))},
			"mask":         b64(pngOf(t, 64, 64))}))
		e.checkImages(t, r, 1, 1024, 1024)
		if left := e.objects(t, "inputs/"); len(left) != 0 {
			t.Fatalf("uploads left after the job: %v", left)
		}
	})
	t.Run("upload-and-edit", func(t *testing.T) {
		r := e.postForm(t, "/images/upload-and-edit", map[string]string{"prompt": "merge", "n": "2", "size": "1536x1024"},
			part{"image", "a.png", pngOf(t, 64, 64)}, part{"image", "b.png", pngOf(t, 16, 16)}, part{"mask", "m.png", pngOf(t, 64, 64)})
		e.checkImages(t, r, 2, 1536, 1024)
		if left := e.objects(t, "inputs/"); len(left) != 0 {
			t.Fatalf("uploads left after the job: %v", left)
		}
	})
	t.Run("variations", func(t *testing.T) {
		r := e.postForm(t, "/images/variations", map[string]string{"n": "2", "size": "256x256"}, part{"image", "in.png", pngOf(t, 48, 48)})
		e.checkImages(t, r, 2, 256, 256)
		if r.body["model"] != "dall-e-2" {
			t.Fatalf("model %v", r.body["model"])
		}
		r = e.post(t, "/images/variations", asJSON(t, map[string]any{"image": b64(pngOf(t, 48, 48)), "size": "512x512"}))
		e.checkImages(t, r, 1, 512, 512)
	})
	t.Run("async, then the job holds the same answer", func(t *testing.T) {
		acc := e.post(t, "/images/generate", `{"prompt":"later","response_format":"b64_json"}`, "Prefer", "respond-async")
		if acc.status != 202 {
			t.Fatalf("status %d: %s", acc.status, acc.raw)
		}
		var st reply
		testwait.For(t, "the image job to succeed", 30*time.Second, func() bool {
			st = e.spec.call(t, "GET", acc.body["status_url"].(string), e.key, "")
			return st.body["status"] == "succeeded"
		})
		result := st.body["result"].(map[string]any)
		e.checkImages(t, reply{status: 200, body: result, raw: st.raw, header: http.Header{"X-Job-Id": {acc.body["job_id"].(string)}}}, 1, 1024, 1024)

		sync := e.post(t, "/images/generate", `{"prompt":"now","n":2}`)
		e.checkImages(t, sync, 2, 1024, 1024)
		again := e.spec.call(t, "GET", e.base+"/jobs/"+sync.body["job_id"].(string), e.key, "")
		if a, b := withoutSignatures(t, sync.body), withoutSignatures(t, again.body["result"]); a != b {
			t.Fatalf("GET /jobs differs from the synchronous answer:\n%s\n%s", a, b)
		}
	})
	t.Run("a refused prompt stores nothing and frees the uploads", func(t *testing.T) {
		before := e.objects(t, "images/")
		r := e.post(t, "/images/edit", asJSON(t, map[string]any{"prompt": "[[openaiemu:content_policy]] forbidden",
			"input_images": []string{b64(pngOf(t, 8, 8))}}))
		failure, _ := r.body["error"].(map[string]any)
		if r.status != 400 || r.body["success"] != false || failure["code"] != "content_policy_violation" || failure["message"] == "" {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if after := e.objects(t, "images/"); len(after) != len(before) {
			t.Fatalf("a failed job stored %v", after)
		}
		if left := e.objects(t, "inputs/"); len(left) != 0 {
			t.Fatalf("uploads of a failed job left: %v", left)
		}
	})
}

// withoutSignatures renders an image answer with its URLs cut at the query (each answer signs anew).
func withoutSignatures(t *testing.T, v any) string {
	t.Helper()
	m, _ := v.(map[string]any)
	for _, raw := range m["images"].([]any) {
		img := raw.(map[string]any)
		img["url"], _, _ = strings.Cut(img["url"].(string), "?")
	}
	return asJSON(t, m)
}

// checkTTL reads a URL's lifetime: the local store's expires, or S3's X-Amz-Expires.
func checkTTL(t *testing.T, raw string, want time.Duration) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if s := q.Get("X-Amz-Expires"); s != "" {
		if s != strconv.Itoa(int(want.Seconds())) {
			t.Fatalf("presigned for %ss, want %s", s, want)
		}
		return
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if left := time.Until(time.Unix(exp, 0)); err != nil || left > want || left < want-time.Minute {
		t.Fatalf("URL expires in %s, want %s", left, want)
	}
}

// Upstream failures: bounded retries, then 503 with Retry-After; nothing stored either way.
func TestImagesUpstreamFailures(t *testing.T) {
	// Payments on (the documented example prices the image routes): variations stay key-only.
	cfgFile, err := filepath.Abs("../../payments/testdata/payments.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newImageEnv(t, "local", "OPENAI_REQUEST_TIMEOUT", "2s", "PAYMENTS_CONFIG", cfgFile)
	gen := `{"prompt":"a lighthouse"}`
	for _, tc := range []struct {
		name     string
		fault    openaiemu.Fault
		attempts int64
	}{
		{"server errors", openaiemu.Fault{Kind: openaiemu.FaultServerError, Endpoint: openaiemu.EndpointImageGenerations}, 3},
		{"rate limits", openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointImageGenerations}, 3},
		{"a slow provider", openaiemu.Fault{Delay: 5 * time.Second, Endpoint: openaiemu.EndpointImageGenerations}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.emu.SetFaults(tc.fault)
			defer e.emu.ClearFaults()
			before := e.emu.Requests(openaiemu.EndpointImageGenerations)
			r := e.post(t, "/images/generate", gen)
			failure, _ := r.body["error"].(map[string]any)
			if r.status != 503 || r.header.Get("Retry-After") == "" || r.body["success"] != false || failure["code"] != "upstream_unavailable" {
				t.Fatalf("status %d %v: %s", r.status, r.header, r.raw)
			}
			if n := e.emu.Requests(openaiemu.EndpointImageGenerations) - before; n != tc.attempts {
				t.Fatalf("%d attempts, want %d", n, tc.attempts)
			}
			if stored := e.objects(t, "images/"); len(stored) != 0 {
				t.Fatalf("a failed job stored %v", stored)
			}
		})
	}
	t.Run("a rate limit that passes is retried", func(t *testing.T) {
		e.emu.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultRateLimit, Endpoint: openaiemu.EndpointImageVariations, Times: 1})
		defer e.emu.ClearFaults()
		r := e.postForm(t, "/images/variations", map[string]string{"size": "256x256"}, part{"image", "in.png", pngOf(t, 8, 8)})
		e.checkImages(t, r, 1, 256, 256)
	})
	t.Run("variations take an API key even when payments are enabled", func(t *testing.T) {
		r := call(t, "POST", e.base+"/images/variations", "", asJSON(t, map[string]any{"image": b64(pngOf(t, 8, 8))}))
		if r.status != 401 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	})
}

// Refused requests never reach the model; the 413 names the image; job payloads carry keys only.
func TestImagesLimitsAndPayloads(t *testing.T) {
	e := newImageEnv(t, "local")
	big := pngOf(t, 8, 8)
	big = append(big, make([]byte, 25<<20+1-len(big))...) // a PNG header, then 25 MB and a byte
	r := e.post(t, "/images/edit", asJSON(t, map[string]any{"prompt": "x", "input_images": []string{b64(pngOf(t, 8, 8)), b64(big)}}))
	if r.status != 413 || !strings.Contains(r.raw, "input_images[1]") {
		t.Fatalf("status %d: %.300s", r.status, r.raw)
	}
	r = e.postForm(t, "/images/upload-and-edit", map[string]string{"prompt": "x"}, part{"image", "huge.png", big})
	if r.status != 413 || !strings.Contains(r.raw, `huge.png`) {
		t.Fatalf("status %d: %.300s", r.status, r.raw)
	}
	r = e.post(t, "/images/edit", asJSON(t, map[string]any{"prompt": "x", "input_images": []string{b64([]byte("GIF89a not really"))}}))
	if r.status != 422 {
		t.Fatalf("status %d: %.300s", r.status, r.raw)
	}
	if n := e.emu.Requests(openaiemu.EndpointImageEdits); n != 0 {
		t.Fatalf("refused requests reached the model %d times", n)
	}
	if left := e.objects(t, ""); len(left) != 0 {
		t.Fatalf("refused requests left %v", left)
	}

	// Megabytes of images in, a payload of keys in Redis.
	large := pngOf(t, 8, 8)
	large = append(large, make([]byte, 6<<20)...)
	acc := e.post(t, "/images/edit", asJSON(t, map[string]any{"prompt": "x", "input_images": []string{b64(large), b64(large)}}),
		"Prefer", "respond-async")
	if acc.status != 202 {
		t.Fatalf("status %d: %.300s", acc.status, acc.raw)
	}
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB})
	defer insp.Close()
	ti, err := insp.GetTaskInfo("default", acc.body["job_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if len(ti.Payload) > 1024 || ti.Type != "images:edit" {
		t.Fatalf("%s payload of %d bytes: %.300s", ti.Type, len(ti.Payload), ti.Payload)
	}
}
