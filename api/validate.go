package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// readBody reads at most limit bytes of the request body (see bodyStream: a declared
// Content-Length over the limit is refused before anything is read).
func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	body, err := bodyStream(c, limit)
	if err != nil {
		return nil, err
	}
	size := c.Request().Header.ContentLength()
	if size < 0 || size > limit {
		size = limit // unknown (chunked): count the most it may be
	}
	if err := holdBody(c, int64(size)); err != nil {
		return nil, err
	}
	// One buffer of the declared size (plus bytes.Buffer's read margin), not ReadAll's regrowth.
	var buf bytes.Buffer
	buf.Grow(c.Request().Header.ContentLength() + bytes.MinRead + 1)
	_, err = buf.ReadFrom(body)
	data := buf.Bytes()
	switch {
	case body.over:
		return nil, tooLarge(limit)
	case err != nil:
		return nil, httpError(http.StatusBadRequest, "Could not read the request body")
	}
	return data, nil
}

// bodyBudget bounds the request bytes that all requests of this process hold in memory at once
// (bodies being decoded and what is decoded from them: a /chat image's bytes are decoded from
// the body's base64 text, so a request holds at most twice its body, see inlineImage). A request that would go over it is turned away with
// 503 and Retry-After instead of taking the process past its memory limit; the budget takes four
// bodies of the largest limit (/chat, 28 MB) at once.
const bodyBudget = 4 * chatBodyLimit

// bodiesHeld is the budget in use (one api server per process; tests share it harmlessly).
var bodiesHeld atomic.Int64

const localBodyHeld = "body_held"

// holdBody takes n bytes of the budget until the request ends (frame gives them back).
func holdBody(c *fiber.Ctx, n int64) error {
	if bodiesHeld.Add(n) > bodyBudget {
		bodiesHeld.Add(-n)
		return &HTTPError{Status: http.StatusServiceUnavailable, Detail: "Too many large requests at once, try again shortly",
			Headers: map[string]string{"Retry-After": "1"}}
	}
	if held, ok := c.Locals(localBodyHeld).(int64); ok {
		n += held
	}
	c.Locals(localBodyHeld, n)
	return nil
}

// releaseBody gives back what the request held of the body budget.
func releaseBody(c *fiber.Ctx) {
	if held, ok := c.Locals(localBodyHeld).(int64); ok {
		bodiesHeld.Add(-held)
		c.Locals(localBodyHeld, int64(0))
	}
}

// bodyStream is the request body as a stream of at most limit bytes. A declared Content-Length
// over the limit is refused before anything is read.
func bodyStream(c *fiber.Ctx, limit int) (*cappedReader, error) {
	req := c.Request()
	if cl := req.Header.ContentLength(); cl > limit {
		return nil, tooLarge(limit)
	}
	var r io.Reader = bytes.NewReader(req.Body())
	if req.IsBodyStream() {
		r = req.BodyStream()
	}
	return &cappedReader{r: r, left: int64(limit)}, nil
}

// cappedReader passes at most left bytes of r through; a longer stream sets over and ends in
// errTooLong (request bodies and single uploads alike).
type cappedReader struct {
	r    io.Reader
	left int64
	over bool
}

// errTooLong ends a read that went past a cap; the owner of the reader names the culprit.
var errTooLong = errors.New("api: input over its size limit")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooLong
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.over = true
		return n, errTooLong
	}
	return n, err
}

func tooLarge(limit int) *HTTPError {
	return httpError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large (limit %d bytes)", limit))
}

// validator is implemented by request bodies that check their own values after decoding.
type validator interface {
	validate(v *fieldErrors)
}

// decodeJSON reads a JSON object body into dst, then runs dst's own checks. Every problem is
// reported as a 422 whose detail lists {loc, msg, type} entries, as FastAPI does.
func decodeJSON(c *fiber.Ctx, limit int, dst validator) error {
	body, err := readBody(c, limit)
	if err != nil {
		return err
	}
	return decodeJSONBody(body, dst)
}

// decodeJSONBody is decodeJSON of a body already read.
func decodeJSONBody(body []byte, dst validator) error {
	var errs fieldErrors
	if len(bytes.TrimSpace(body)) == 0 {
		errs.add([]any{"body"}, "Field required", "missing")
		return errs.err()
	}
	// Unmarshal decodes in place; a Decoder would copy the body into its own buffer first. The
	// Decoder runs only to describe a body that does not decode.
	if json.Unmarshal(body, dst) == nil {
		dst.validate(&errs)
		return errs.err()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		errs.list = append(errs.list, jsonFieldError(err))
		return errs.err()
	}
	if dec.More() {
		errs.add([]any{"body", dec.InputOffset()}, "JSON decode error", "json_invalid")
		return errs.err()
	}
	dst.validate(&errs)
	return errs.err()
}

func jsonFieldError(err error) FieldError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return FieldError{Loc: []any{"body", syn.Offset}, Msg: "JSON decode error", Type: "json_invalid"}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return FieldError{Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from", Type: "model_attributes_type"}
		}
		loc := []any{"body"}
		for _, p := range strings.Split(typ.Field, ".") {
			loc = append(loc, p)
		}
		return typeError(loc, typ.Type.Kind().String())
	}
	return FieldError{Loc: []any{"body"}, Msg: "JSON decode error", Type: "json_invalid"}
}

func typeError(loc []any, kind string) FieldError {
	switch kind {
	case "int", "int64", "int32", "uint", "uint64":
		return FieldError{Loc: loc, Msg: "Input should be a valid integer", Type: "int_type"}
	case "float64", "float32":
		return FieldError{Loc: loc, Msg: "Input should be a valid number", Type: "float_type"}
	case "bool":
		return FieldError{Loc: loc, Msg: "Input should be a valid boolean", Type: "bool_type"}
	case "string":
		return FieldError{Loc: loc, Msg: "Input should be a valid string", Type: "string_type"}
	case "slice", "array":
		return FieldError{Loc: loc, Msg: "Input should be a valid list", Type: "list_type"}
	}
	return FieldError{Loc: loc, Msg: "Input should be a valid dictionary", Type: "dict_type"}
}

// fieldErrors collects validation failures.
type fieldErrors struct{ list []FieldError }

func (f *fieldErrors) add(loc []any, msg, typ string) {
	f.list = append(f.list, FieldError{Loc: loc, Msg: msg, Type: typ})
}

// intRange checks lo <= n <= hi for body field name.
func (f *fieldErrors) intRange(name string, n, lo, hi int) {
	if n < lo {
		f.add([]any{"body", name}, fmt.Sprintf("Input should be greater than or equal to %d", lo), "greater_than_equal")
	}
	if n > hi {
		f.add([]any{"body", name}, fmt.Sprintf("Input should be less than or equal to %d", hi), "less_than_equal")
	}
}

func (f *fieldErrors) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &HTTPError{Status: http.StatusUnprocessableEntity, Detail: f.list}
}

// floatRange checks lo <= *x <= hi for an optional body field.
func (f *fieldErrors) floatRange(name string, x *float64, lo, hi float64) {
	if x == nil {
		return
	}
	if *x < lo {
		f.add([]any{"body", name}, fmt.Sprintf("Input should be greater than or equal to %g", lo), "greater_than_equal")
	}
	if *x > hi {
		f.add([]any{"body", name}, fmt.Sprintf("Input should be less than or equal to %g", hi), "less_than_equal")
	}
}

// strLen checks an optional string field's length in characters.
func (f *fieldErrors) strLen(name string, s *string, lo, hi int) {
	if s == nil {
		return
	}
	n := utf8.RuneCountInString(*s)
	if n < lo {
		f.add([]any{"body", name}, fmt.Sprintf("String should have at least %d character%s", lo, plural(lo)), "string_too_short")
	}
	if n > hi {
		f.add([]any{"body", name}, fmt.Sprintf("String should have at most %d character%s", hi, plural(hi)), "string_too_long")
	}
}

// required reports a missing field.
func (f *fieldErrors) required(name string, present bool) {
	if !present {
		f.add([]any{"body", name}, "Field required", "missing")
	}
}

// oneOf checks an optional string field against its allowed values.
func (f *fieldErrors) oneOf(name string, s *string, allowed ...string) {
	if s == nil {
		return
	}
	for _, a := range allowed {
		if *s == a {
			return
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = "'" + a + "'"
	}
	f.add([]any{"body", name}, "Input should be "+strings.Join(quoted, " or "), "literal_error")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ignoredJSONData is a field we accept and never read: it is checked to be JSON (the decoder does
// that) and dropped, never decoded into maps and interfaces, so a body full of it costs no more
// memory than its bytes.
type ignoredJSONData struct{}

func (*ignoredJSONData) UnmarshalJSON([]byte) error { return nil }

// ignoredObject is an ignoredJSONData that must be an object (or null), as documented.
type ignoredObject struct{}

func (*ignoredObject) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '{' && !bytes.Equal(b, []byte("null")) {
		return &json.UnmarshalTypeError{Value: "non-object", Type: reflect.TypeFor[map[string]any]()}
	}
	return nil
}
