package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specChecker validates live responses of a running service against the OpenAPI document that
// same service serves, so end-to-end answers (with a real worker behind them) cannot drift from it.
type specChecker struct {
	router routers.Router
}

func newSpecChecker(t *testing.T, base string) *specChecker {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{router: router}
}

// check validates one reply to method url.
func (s *specChecker) check(t *testing.T, method, url string, r reply) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s is not in the served OpenAPI document: %v", method, url, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: r.status, Header: r.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes([]byte(r.raw))
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match the served OpenAPI document: %v\nbody: %s", method, url, r.status, err,
			bytes.TrimSpace([]byte(r.raw)))
	}
}

// checkedCall is call followed by a check against the document.
func (s *specChecker) call(t *testing.T, method, url, key, body string, hdr ...string) reply {
	t.Helper()
	r := call(t, method, url, key, body, hdr...)
	s.check(t, method, strings.SplitN(url, "#", 2)[0], r)
	return r
}
