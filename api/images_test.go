package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
)

// imgEnv is the api on the test Redis with no worker (jobs stay queued, so their payloads and
// stored uploads can be inspected), a local object store in dir, and a key with both image scopes.
type imgEnv struct {
	*harness
	dir string
	key string
}

func newImgEnv(t *testing.T, model string) *imgEnv {
	t.Helper()
	dir := t.TempDir()
	h := newHarness(t, func(c *Config, d *Deps) {
		c.ImageModel = model
		st, err := objstore.NewLocal(objstore.LocalConfig{Dir: dir, SigningKey: []byte(strings.Repeat("s", 32))})
		if err != nil {
			t.Fatal(err)
		}
		d.Objects = st
	})
	_, key := h.key(0, storage.ScopeImages, storage.ScopeImageVariations)
	return &imgEnv{harness: h, dir: dir, key: key}
}

// files lists the stored objects (sidecars left out), relative to the store's root.
func (e *imgEnv) files(t *testing.T) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(e.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(info.Name(), ".") {
			rel, _ := filepath.Rel(e.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func (e *imgEnv) noUploadsLeft(t *testing.T) {
	t.Helper()
	if f := e.files(t); len(f) != 0 {
		t.Fatalf("a refused request left objects behind: %v", f)
	}
}

// payload reads the queued job's payload from Redis.
func (e *imgEnv) payload(t *testing.T, res response) (jobs.ImagePayload, []byte) {
	t.Helper()
	if res.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	id, _ := res.json(t)["job_id"].(string)
	ti, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(jobs.QueueDefault, id)
	if err != nil {
		t.Fatal(err)
	}
	var p jobs.ImagePayload
	if err := json.Unmarshal(ti.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p, ti.Payload
}

// stored reads an object's bytes and content type.
func (e *imgEnv) stored(t *testing.T, key string) ([]byte, string) {
	t.Helper()
	r, obj, err := e.srv.deps.Objects.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b, obj.ContentType
}

func encodeImage(t testing.TB, w, h int, enc func(io.Writer, image.Image) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngImage(t testing.TB, w, h int) []byte { return encodeImage(t, w, h, png.Encode) }
func jpegImage(t *testing.T, w, h int) []byte {
	return encodeImage(t, w, h, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) })
}
func gifImage(t *testing.T) []byte {
	return encodeImage(t, 4, 4, func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) })
}

// webpImage is a lossless WebP's container and header (RFC 9649), all our checks read.
func webpImage(w, h int) []byte {
	payload := []byte{0x2f, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(payload[1:5], uint32(w-1)|uint32(h-1)<<14)
	out := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8L"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:8], uint32(4+8+len(payload)))
	binary.LittleEndian.PutUint32(out[16:20], uint32(len(payload)))
	return append(out, payload...)
}

// bigPNG is a real PNG header padded to n bytes: it passes the format check, then the size cap.
func bigPNG(t testing.TB, n int) []byte {
	b := pngImage(t, 8, 8)
	return append(b, make([]byte, n-len(b))...)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type formFile struct {
	field, name, ctype string
	data               []byte
}

func formBody(t *testing.T, fields map[string]string, files ...formFile) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.field, f.name))
		h.Set("Content-Type", f.ctype)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.String()
}

func (e *imgEnv) post(path, body string, hdr ...string) response {
	return e.do("POST", path, body, append([]string{"api-key", e.key, "Prefer", "respond-async"}, hdr...)...)
}

func (e *imgEnv) postForm(t *testing.T, path string, fields map[string]string, files ...formFile) response {
	ct, body := formBody(t, fields, files...)
	return e.post(path, body, "Content-Type", ct)
}

// wantFieldError checks a 422 whose first entry points at loc with the given type.
func wantFieldError(t *testing.T, res response, loc, typ string) {
	t.Helper()
	if res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %.400s", res.Status, res.Body)
	}
	first := res.json(t)["detail"].([]any)[0].(map[string]any)
	if fmt.Sprint(first["loc"]) != "["+loc+"]" || first["type"] != typ {
		t.Fatalf("detail %v, want loc [%s] type %s", first, loc, typ)
	}
}

func TestImageGenerateValidation(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	for _, tc := range []struct{ body, loc, typ string }{
		{`{}`, "body prompt", "missing"},
		{`[]`, "body", "model_attributes_type"},
		{`{"prompt":""}`, "body prompt", "string_too_short"},
		{`{"prompt":"   "}`, "body prompt", "string_too_short"},
		{`{"prompt":"` + strings.Repeat("a", 32001) + `"}`, "body prompt", "string_too_long"},
		{`{"prompt":"x","size":"256x256"}`, "body size", "literal_error"},
		{`{"prompt":"x","n":0}`, "body n", "greater_than_equal"},
		{`{"prompt":"x","n":11}`, "body n", "less_than_equal"},
		{`{"prompt":"x","n":"2"}`, "body n", "int_type"},
		{`{"prompt":"x","quality":"hd"}`, "body quality", "literal_error"},
		{`{"prompt":"x","style":"vivid"}`, "body style", "value_error"},
		{`{"prompt":"x","response_format":"png"}`, "body response_format", "literal_error"},
	} {
		t.Run(tc.loc+" "+tc.typ, func(t *testing.T) { wantFieldError(t, e.post("/images/generate", tc.body), tc.loc, tc.typ) })
	}
	p, _ := e.payload(t, e.post("/images/generate", `{"prompt":"a fox","n":3,"size":"1536x1024","quality":"low","response_format":"b64_json"}`))
	want := jobs.ImagePayload{Model: "gpt-image-1", Prompt: "a fox", N: 3, Size: "1536x1024", Quality: "low", ResponseFormat: "b64_json"}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Fatalf("payload %+v, want %+v", p, want)
	}
	p, _ = e.payload(t, e.post("/images/generate", `{"prompt":"defaults"}`))
	if p.N != 1 || p.Size != "1024x1024" || p.ResponseFormat != "url" {
		t.Fatalf("defaults %+v", p)
	}
}

// The sizes, counts, qualities and styles follow the configured model.
func TestImageValidationFollowsTheModel(t *testing.T) {
	for _, tc := range []struct {
		model, body string
		ok          bool
		loc, typ    string
	}{
		{"dall-e-3", `{"prompt":"x","size":"1792x1024","quality":"hd","style":"natural"}`, true, "", ""},
		{"dall-e-3", `{"prompt":"x","n":2}`, false, "body n", "less_than_equal"},
		{"dall-e-3", `{"prompt":"x","style":"noir"}`, false, "body style", "literal_error"},
		{"dall-e-3", `{"prompt":"` + strings.Repeat("a", 4001) + `"}`, false, "body prompt", "string_too_long"},
		{"dall-e-2", `{"prompt":"x","size":"256x256","n":10}`, true, "", ""},
		{"dall-e-2", `{"prompt":"x","size":"1792x1024"}`, false, "body size", "literal_error"},
		{"some-other-model", `{"prompt":"x","n":4,"size":"512x512"}`, true, "", ""},
		{"some-other-model", `{"prompt":"x","n":5}`, false, "body n", "less_than_equal"},
		{"some-other-model", `{"prompt":"x","quality":"hd"}`, false, "body quality", "value_error"},
	} {
		t.Run(tc.model+" "+tc.body[:min(len(tc.body), 40)], func(t *testing.T) {
			e := newImgEnv(t, tc.model)
			res := e.post("/images/generate", tc.body)
			if tc.ok {
				if p, _ := e.payload(t, res); p.Model != tc.model {
					t.Fatalf("payload model %q", p.Model)
				}
				return
			}
			wantFieldError(t, res, tc.loc, tc.typ)
		})
	}
	e := newImgEnv(t, "dall-e-3")
	res := e.post("/images/edit", jsonBody(t, map[string]any{"prompt": "x", "input_images": []string{b64(pngImage(t, 8, 8))}}))
	if res.Status != http.StatusNotImplemented || !strings.Contains(string(res.Body), "dall-e-3") {
		t.Fatalf("edit with dall-e-3: %d %s", res.Status, res.Body)
	}
}

// Uploads are checked and stored before the job is queued; the payload carries only their keys.
func TestImageEditStoresInputsAndQueuesKeys(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	big := pngImage(t, 1500, 1200) // with the others, megabytes that must stay out of Redis
	jp, wp, mask := jpegImage(t, 40, 30), webpImage(640, 480), pngImage(t, 1500, 1200)
	res := e.post("/images/edit", jsonBody(t, map[string]any{
		"prompt": "add a hat", "n": 2, "size": "1024x1536", "response_format": "b64_json",
		"input_images": []string{b64(big), "data:image/jpeg;base64," + b64(jp), "data:image/webp;base64," + b64(wp)},
		"mask":         "data:image/png;base64," + b64(mask),
	}))
	p, raw := e.payload(t, res)
	if len(raw) > 2048 {
		t.Fatalf("payload is %d bytes: images are riding in it", len(raw))
	}
	if p.Prompt != "add a hat" || p.N != 2 || p.Size != "1024x1536" || p.ResponseFormat != "b64_json" || len(p.Inputs) != 3 || p.Mask == nil {
		t.Fatalf("payload %s", raw)
	}
	id := res.json(t)["job_id"].(string)
	for i, want := range []struct {
		data      []byte
		mime, ext string
		w, h      int
	}{{big, "image/png", "png", 1500, 1200}, {jp, "image/jpeg", "jpg", 40, 30}, {wp, "image/webp", "webp", 640, 480}} {
		ref := p.Inputs[i]
		wantKey := fmt.Sprintf("inputs/images/%s/%s-%d.%s", time.Now().UTC().Format("2006/01/02"), id, i, want.ext)
		if ref.Key != wantKey || ref.MIME != want.mime || ref.Width != want.w || ref.Height != want.h {
			t.Errorf("input %d: %+v, want key %s", i, ref, wantKey)
		}
		if data, ct := e.stored(t, ref.Key); !bytes.Equal(data, want.data) || ct != want.mime {
			t.Errorf("input %d stored as %s, %d bytes", i, ct, len(data))
		}
	}
	if !strings.HasSuffix(p.Mask.Key, id+"-mask.png") {
		t.Errorf("mask key %s", p.Mask.Key)
	}
}

func TestImageEditRefusals(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	small := b64(pngImage(t, 16, 16))
	edit := func(fields map[string]any) response {
		if _, ok := fields["prompt"]; !ok {
			fields["prompt"] = "x"
		}
		return e.post("/images/edit", jsonBody(t, fields))
	}
	t.Run("an image over 25 MB is a 413 naming it", func(t *testing.T) {
		for _, b := range []string{b64(bigPNG(t, maxImageBytes+1)), "data:image/png;base64," + b64(bigPNG(t, maxImageBytes+1))} {
			res := edit(map[string]any{"input_images": []string{small, small, b}})
			if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.Body), "input_images[2]") {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			e.noUploadsLeft(t)
		}
		// Exactly 25 MB is accepted.
		e.payload(t, edit(map[string]any{"input_images": []string{b64(bigPNG(t, maxImageBytes))}}))
	})
	t.Run("a mask over 25 MB is a 413 naming it", func(t *testing.T) {
		dir := e.files(t)
		res := edit(map[string]any{"input_images": []string{small}, "mask": b64(bigPNG(t, maxImageBytes+10))})
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.Body), "mask") {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		if after := e.files(t); len(after) != len(dir) {
			t.Fatalf("objects %v, before %v", after, dir)
		}
	})
	e = newImgEnv(t, "gpt-image-1")
	tooMany := make([]string, 17)
	for i := range tooMany {
		tooMany[i] = small
	}
	for _, tc := range []struct {
		name     string
		fields   map[string]any
		loc, typ string
	}{
		{"missing images", map[string]any{}, "body input_images", "missing"},
		{"empty list", map[string]any{"input_images": []string{}}, "body input_images", "too_short"},
		{"not a list", map[string]any{"input_images": small}, "body input_images", "list_type"},
		{"not a string", map[string]any{"input_images": []any{small, 7}}, "body input_images 1", "string_type"},
		{"not base64", map[string]any{"input_images": []string{"%%%"}}, "body input_images 0", "value_error"},
		{"a URL", map[string]any{"input_images": []string{"https://example.com/a.png"}}, "body input_images 0", "value_error"},
		{"data URI without base64", map[string]any{"input_images": []string{"data:image/png," + small}}, "body input_images 0", "value_error"},
		{"text bytes", map[string]any{"input_images": []string{small, b64([]byte("just some text, no image"))}}, "body input_images 1", "value_error"},
		{"gif", map[string]any{"input_images": []string{b64(gifImage(t))}}, "body input_images 0", "value_error"},
		{"declared type lies", map[string]any{"input_images": []string{"data:image/jpeg;base64," + small}}, "body input_images 0", "value_error"},
		{"broken png header", map[string]any{"input_images": []string{b64(pngImage(t, 8, 8)[:20])}}, "body input_images 0", "value_error"},
		{"seventeen images", map[string]any{"input_images": tooMany}, "body input_images", "too_long"},
		{"jpeg mask", map[string]any{"input_images": []string{small}, "mask": b64(jpegImage(t, 16, 16))}, "body mask", "value_error"},
		{"mask of another size", map[string]any{"input_images": []string{small}, "mask": b64(pngImage(t, 8, 16))}, "body mask", "value_error"},
		{"missing prompt", map[string]any{"prompt": nil, "input_images": []string{small}}, "body prompt", "missing"},
		{"size for the model", map[string]any{"input_images": []string{small}, "size": "1792x1024"}, "body size", "literal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldError(t, edit(tc.fields), tc.loc, tc.typ)
			e.noUploadsLeft(t)
		})
	}
	for _, body := range []string{``, `{"prompt":"x","input_images":["` + small, `{"prompt":"x"} {}`, `{"prompt":"x",}`} {
		if res := e.post("/images/edit", body); res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("%.40q: status %d: %s", body, res.Status, res.Body)
		}
		e.noUploadsLeft(t)
	}
}

func TestImageUploadAndEdit(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	a, b := pngImage(t, 64, 64), jpegImage(t, 32, 32)
	res := e.postForm(t, "/images/upload-and-edit", map[string]string{"prompt": "merge", "n": "2", "size": "1024x1024", "quality": "high"},
		formFile{"image", "a.png", "image/png", a}, formFile{"image[]", "b.jpg", "application/octet-stream", b},
		formFile{"mask", "m.png", "image/png", pngImage(t, 64, 64)})
	p, raw := e.payload(t, res)
	if p.Prompt != "merge" || p.N != 2 || p.Quality != "high" || len(p.Inputs) != 2 || p.Mask == nil || len(raw) > 2048 {
		t.Fatalf("payload %s", raw)
	}
	// The bytes decide the type, not the part's Content-Type.
	if data, ct := e.stored(t, p.Inputs[1].Key); !bytes.Equal(data, b) || ct != "image/jpeg" {
		t.Fatalf("second input stored as %s", ct)
	}

	e = newImgEnv(t, "gpt-image-1")
	small := formFile{"image", "small.png", "image/png", pngImage(t, 8, 8)}
	t.Run("a file over 25 MB is a 413 naming it", func(t *testing.T) {
		res := e.postForm(t, "/images/upload-and-edit", map[string]string{"prompt": "x"},
			small, formFile{"image", "big.png", "image/png", bigPNG(t, maxImageBytes+1)})
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.Body), `image[1] (\"big.png\")`) {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		e.noUploadsLeft(t)
	})
	for _, tc := range []struct {
		name     string
		fields   map[string]string
		files    []formFile
		loc, typ string
	}{
		{"no image", map[string]string{"prompt": "x"}, nil, "body image", "missing"},
		{"no prompt", nil, []formFile{small}, "body prompt", "missing"},
		{"text file", map[string]string{"prompt": "x"}, []formFile{small, {"image", "notes.png", "image/png", []byte("hello")}}, "body image 1", "value_error"},
		{"n not a number", map[string]string{"prompt": "x", "n": "two"}, []formFile{small}, "body n", "int_parsing"},
		{"n too big", map[string]string{"prompt": "x", "n": "11"}, []formFile{small}, "body n", "less_than_equal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldError(t, e.postForm(t, "/images/upload-and-edit", tc.fields, tc.files...), tc.loc, tc.typ)
			e.noUploadsLeft(t)
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		wantFieldError(t, e.post("/images/upload-and-edit", `{"prompt":"x"}`), "body", "value_error")
	})
	t.Run("broken multipart", func(t *testing.T) {
		ct, body := formBody(t, map[string]string{"prompt": "x"}, small)
		res := e.post("/images/upload-and-edit", body[:strings.Index(body, "IEND")], "Content-Type", ct) // ends inside the file
		if res.Status != http.StatusBadRequest {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		e.noUploadsLeft(t)
	})
	t.Run("a text field over its limit", func(t *testing.T) {
		res := e.postForm(t, "/images/upload-and-edit", map[string]string{"prompt": strings.Repeat("p", maxFormField+1)}, small)
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.Body), "prompt") {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		e.noUploadsLeft(t)
	})
}

// The body limits apply before (declared) and while (streamed) reading.
func TestImageBodyLimits(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	base := newListener(t, e.harness)
	for _, route := range []struct {
		path  string
		limit int
	}{{"/images/edit", imagesBodyLimit}, {"/images/upload-and-edit", imagesBodyLimit}, {"/images/variations", variationBodyLimit}} {
		t.Run("declared "+route.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\napi-key: %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n",
				route.path, e.key, route.limit+1)
			_, _ = conn.Write(make([]byte, 16<<10))
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d: %s", res.StatusCode, b)
			}
		})
	}
	t.Run("streamed multipart cut off", func(t *testing.T) {
		// Many files under the per-image limit, sent without a length, add up past the body limit.
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			_ = mw.WriteField("prompt", "x")
			for i := 0; i < 7; i++ {
				w, err := mw.CreateFormFile("image", fmt.Sprintf("f%d.png", i))
				if err != nil {
					break
				}
				if _, err := w.Write(bigPNG(t, 24<<20)); err != nil {
					break
				}
			}
			_ = mw.Close()
			_ = pw.Close()
		}()
		req, _ := http.NewRequest("POST", base+"/images/upload-and-edit", pr)
		req.Header.Set("api-key", e.key)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := http.DefaultClient.Do(req)
		_ = pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
		e.noUploadsLeft(t)
	})
}

// The fields besides the images are held in memory while the images stream: bounded.
func TestImageEditBoundsOtherFields(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	body := jsonBody(t, map[string]any{"prompt": "x", "input_images": []string{b64(pngImage(t, 16, 16))},
		"junk": strings.Repeat("j", 300<<10)})
	if res := e.post("/images/edit", body); res.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("300 KB of other fields: %d %s", res.Status, res.Body)
	}
	e.noUploadsLeft(t)
}

func TestImageVariations(t *testing.T) {
	e := newImgEnv(t, "gpt-image-1")
	sq := pngImage(t, 48, 48)
	t.Run("API key only", func(t *testing.T) {
		if res := e.do("POST", "/images/variations", jsonBody(t, map[string]any{"image": b64(sq)})); res.Status != http.StatusUnauthorized {
			t.Fatalf("without a key: %d", res.Status)
		}
		_, imagesOnly := e.harness.key(0, storage.ScopeImages)
		if res := e.do("POST", "/images/variations", jsonBody(t, map[string]any{"image": b64(sq)}), "api-key", imagesOnly); res.Status != http.StatusForbidden {
			t.Fatalf("with the images scope only: %d", res.Status)
		}
	})
	// A prompt is not a variation's field: it is accepted (unknown fields are) but never queued.
	p, _ := e.payload(t, e.post("/images/variations", jsonBody(t, map[string]any{"image": "data:image/png;base64," + b64(sq), "n": 3, "size": "256x256",
		"prompt": strings.Repeat("p", 100000)})))
	if p.Model != variationModel || p.N != 3 || p.Size != "256x256" || len(p.Inputs) != 1 || p.Prompt != "" {
		t.Fatalf("JSON payload %+v", p)
	}
	p, _ = e.payload(t, e.postForm(t, "/images/variations", map[string]string{"n": "2"}, formFile{"image", "in.png", "image/png", sq}))
	if p.N != 2 || len(p.Inputs) != 1 {
		t.Fatalf("multipart payload %+v", p)
	}
	e = newImgEnv(t, "gpt-image-1")
	for _, tc := range []struct {
		name     string
		body     string
		loc, typ string
	}{
		{"no image", `{"n":1}`, "body image", "missing"},
		{"not square", jsonBody(t, map[string]any{"image": b64(pngImage(t, 40, 20))}), "body image", "value_error"},
		{"jpeg", jsonBody(t, map[string]any{"image": b64(jpegImage(t, 16, 16))}), "body image", "value_error"},
		{"size", jsonBody(t, map[string]any{"image": b64(sq), "size": "1024x1536"}), "body size", "literal_error"},
		{"quality", jsonBody(t, map[string]any{"image": b64(sq), "quality": "hd"}), "body quality", "value_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldError(t, e.post("/images/variations", tc.body), tc.loc, tc.typ)
			e.noUploadsLeft(t)
		})
	}
	t.Run("over the 4 MB of dall-e-2", func(t *testing.T) {
		res := e.postForm(t, "/images/variations", nil, formFile{"image", "big.png", "image/png", bigPNG(t, 4<<20+1)})
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.Body), `image[0] (\"big.png\") is larger than 4 MB`) {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		e.noUploadsLeft(t)
	})
}
