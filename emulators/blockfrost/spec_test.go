package blockfrostemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tbackend/tbackend/internal/testfiles"
)

// The published OpenAPI document of the real API is kept whole in testdata/specs at the repository
// root (origin in testdata/README.md); every body the emulator sends in these tests is validated
// against it.

const specServer = "http://blockfrost.test/api/v0"

var spec struct {
	once   sync.Once
	err    error
	doc    *openapi3.T
	router routers.Router
	errSch *openapi3.Schema // the common {status_code, error, message} error schema
}

func loadSpec(t testing.TB) {
	t.Helper()
	path := testfiles.Path(t, "specs", "blockfrost-openapi.yaml")
	spec.once.Do(func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			spec.err = err
			return
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(raw)
		if err != nil {
			spec.err = fmt.Errorf("kin-openapi cannot load it: %w", err)
			return
		}
		// The published document (OpenAPI 3.0.3) carries a few examples that do not match their
		// own schemas (Mithril section) and uses one 3.1 construct, {type: 'null'} inside anyOf
		// (script_json, drep_metadata); with those allowed, it must validate. Responses are then
		// checked with 3.0 semantics (nullable honoured), where {type: 'null'} admits null.
		if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation(), openapi3.IsOpenAPI31OrLater()); err != nil {
			spec.err = fmt.Errorf("not a valid OpenAPI document: %w", err)
			return
		}
		doc.Servers = openapi3.Servers{{URL: specServer}}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			spec.err = err
			return
		}
		r400 := doc.Components.Responses["400"]
		if r400 == nil || r400.Value.Content.Get("application/json") == nil {
			spec.err = errors.New("components.responses.400 has no JSON schema")
			return
		}
		spec.doc, spec.router = doc, router
		spec.errSch = r400.Value.Content.Get("application/json").Schema.Value
	})
	if errors.Is(spec.err, os.ErrNotExist) {
		t.Fatalf("the Blockfrost OpenAPI document is missing: want it at %s (tracked in the repository; see testdata/README.md)", path)
	}
	if spec.err != nil {
		t.Fatalf("loading %s: %v", path, spec.err)
	}
}

// validateResponse checks one answer against the spec: the operation's schema for its status
// when the path and status are documented, else Blockfrost's common error schema (for paths the
// API does not have, and for 402/415, which the spec describes only in prose).
func validateResponse(t testing.TB, method, pathAndQuery string, status int, header http.Header, body []byte) error {
	t.Helper()
	loadSpec(t)
	req := httptest.NewRequest(method, specServer+pathAndQuery, nil)
	route, params, err := spec.router.FindRoute(req)
	if err == nil && route.Operation.Responses.Status(status) != nil {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			},
			Status: status, Header: header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes(body)
		return openapi3filter.ValidateResponse(context.Background(), in)
	}
	if status < 400 {
		if err != nil {
			return fmt.Errorf("%s %s answered %d but the spec has no such path: %v", method, pathAndQuery, status, err)
		}
		return fmt.Errorf("%s %s answered %d, which the spec does not document", method, pathAndQuery, status)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := spec.errSch.VisitJSON(v); err != nil {
		return err
	}
	if m, _ := v.(map[string]any); m["status_code"] != float64(status) {
		return fmt.Errorf("status_code %v in a %d answer", m["status_code"], status)
	}
	return nil
}

// validating wraps the emulator: every answer is recorded, validated, then sent on. Faulted
// answers that are malformed on purpose (and dropped connections) are not validated.
func validating(t *testing.T, next http.Handler) http.Handler {
	loadSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{header: http.Header{}, under: w}
		next.ServeHTTP(rec, r)
		if r.Context().Err() != nil {
			return // the client left; nothing was answered
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		pathAndQuery := strings.TrimPrefix(r.URL.Path, "/api/v0")
		if pathAndQuery == "" {
			pathAndQuery = "/"
		}
		if r.URL.RawQuery != "" {
			pathAndQuery += "?" + r.URL.RawQuery
		}
		if !strings.Contains(rec.header.Get("X-Emulator-Fault"), "malformed") {
			if err := validateResponse(t, r.Method, pathAndQuery, rec.status, rec.header, rec.body.Bytes()); err != nil {
				t.Errorf("%s %s → %d does not match the Blockfrost OpenAPI document: %v\nbody: %.600s",
					r.Method, r.URL.Path, rec.status, err, rec.body.Bytes())
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	under  http.ResponseWriter
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// Unwrap lets http.ResponseController reach the real connection (the drop fault hijacks it).
func (r *recorder) Unwrap() http.ResponseWriter { return r.under }

// The validator itself must reject what the spec forbids, or the other tests prove nothing.
func TestSpecValidatorRejects(t *testing.T) {
	t.Parallel()
	loadSpec(t)
	unit := "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b"
	bad := []struct {
		path   string
		status int
		body   string
	}{
		{"/assets/" + unit, 200, `{"asset":"x","policy_id":"y","asset_name":null,"fingerprint":"f","quantity":76715880000,"initial_mint_tx_hash":"h","mint_or_burn_count":1,"onchain_metadata":null,"metadata":null}`},
		{"/assets/" + unit + "/addresses", 200, `[{"address":"addr1x","quantity":5}]`},
		{"/assets/" + unit + "/history", 200, `[{"tx_hash":"h","action":"sent","amount":"5"}]`},
		{"/blocks/latest", 200, `{"time":1,"height":1,"hash":"h","slot":1,"epoch":1,"epoch_slot":1,"slot_leader":"p","size":1,"tx_count":0,"output":null,"fees":null,"block_vrf":"short","op_cert":null,"op_cert_counter":null,"previous_block":null,"next_block":null,"confirmations":0}`},
		{"/tx/submit", 200, `"abc"`},
		{"/txs/" + strings.Repeat("a", 64) + "/metadata", 200, `[{"label":674,"json_metadata":{}}]`},
		{"/assets/" + unit, 404, `{"error":"Not Found","message":"x"}`},
		{"/nope", 400, `{"status_code":400,"error":"Bad Request"}`},
		{"/assets/" + unit, 402, `{"status_code":429,"error":"Project Over Limit","message":"Usage is over limit."}`},
	}
	for _, b := range bad {
		method := http.MethodGet
		if b.path == "/tx/submit" {
			method = http.MethodPost
		}
		h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
		if err := validateResponse(t, method, b.path, b.status, h, []byte(b.body)); err == nil {
			t.Errorf("%s %d accepted an invalid body: %s", b.path, b.status, b.body)
		}
	}
}
