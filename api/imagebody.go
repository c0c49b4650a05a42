package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"

	"github.com/gofiber/fiber/v2"
)

// Image bodies are read as streams, never whole: a JSON body's images are decoded and stored one
// at a time as the decoder reaches them, and a multipart body's files go to the object store
// part by part. Memory stays near one image whatever the body's size.

// readError explains a failed read of an image body.
func readError(body *cappedReader, limit int, err error) error {
	var he *HTTPError
	switch {
	case body.over:
		return tooLarge(limit)
	case errors.As(err, &he):
		return he
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return unprocessable([]any{"body"}, "JSON decode error", "json_invalid")
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return &HTTPError{Status: http.StatusUnprocessableEntity, Detail: []FieldError{jsonFieldError(err)}}
	}
	return err
}

// readImageJSON reads a JSON object body, handing the image fields to u as they come: lists
// (each item an image) and single images (masks and variation inputs). It returns the other
// fields as a JSON object, for decodeJSONBody.
func readImageJSON(c *fiber.Ctx, limit int, u *uploads, lists, singles []string) ([]byte, error) {
	body, err := bodyStream(c, limit)
	if err != nil {
		return nil, err
	}
	rest, err := streamImageJSON(json.NewDecoder(body), u, lists, singles)
	if err != nil {
		return nil, readError(body, limit, err)
	}
	return rest, nil
}

func streamImageJSON(dec *json.Decoder, u *uploads, lists, singles []string) ([]byte, error) {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, unprocessable([]any{"body"}, "Field required", "missing")
	}
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, unprocessable([]any{"body"}, "Input should be a valid dictionary or object to extract fields from", "model_attributes_type")
	}
	rest := map[string]json.RawMessage{}
	restBytes := 0 // the fields besides images are held in memory: bounded as a generate body is
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		switch {
		case slices.Contains(lists, name):
			err = streamImageList(dec, u, name)
		case slices.Contains(singles, name):
			err = streamImage(dec, u, name)
		default:
			var raw json.RawMessage
			err = dec.Decode(&raw)
			rest[name] = raw
			if restBytes += len(name) + len(raw); err == nil && restBytes > imageJSONLimit {
				return nil, tooLarge(imageJSONLimit)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, unprocessable([]any{"body", dec.InputOffset()}, "JSON decode error", "json_invalid")
	}
	return json.Marshal(rest)
}

func streamImageList(dec *json.Decoder, u *uploads, name string) error {
	u.sawInputs = u.sawInputs || name == u.field
	if tok, err := dec.Token(); err != nil {
		return err
	} else if d, ok := tok.(json.Delim); !ok || d != '[' {
		return unprocessable([]any{"body", name}, "Input should be a valid list", "list_type")
	}
	for i := 0; dec.More(); i++ {
		loc := []any{"body", name, i}
		var im inlineImage
		if err := dec.Decode(&im); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return unprocessable(loc, "Input should be a valid string", "string_type")
			}
			return err
		}
		if err := u.addInline(&im, loc, fmt.Sprintf("%s[%d]", name, i), false); err != nil {
			return err
		}
	}
	_, err := dec.Token() // the closing bracket
	return err
}

// streamImage reads one image field; null counts as absent.
func streamImage(dec *json.Decoder, u *uploads, name string) error {
	loc := []any{"body", name}
	var im *inlineImage
	if err := dec.Decode(&im); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return unprocessable(loc, "Input should be a valid string", "string_type")
		}
		return err
	}
	if im == nil {
		return nil
	}
	u.sawInputs = u.sawInputs || name == u.field
	return u.addInline(im, loc, name, name == "mask")
}

// maxFormField bounds a text field of a multipart body (a 32000-character prompt fits).
const maxFormField = 128 << 10

// readImageForm reads a multipart/form-data body part by part: files named image (or image[])
// go to u as inputs, a file named mask as the mask; the text fields in fields are returned.
// Anything else is skipped.
func readImageForm(c *fiber.Ctx, limit int, u *uploads, fields ...string) (map[string]string, error) {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return nil, unprocessable([]any{"body"}, "Send multipart/form-data (a prompt field and image files)", "value_error")
	}
	body, err := bodyStream(c, limit)
	if err != nil {
		return nil, err
	}
	values, err := streamForm(multipart.NewReader(body, params["boundary"]), u, fields)
	if err != nil {
		if body.over {
			return nil, tooLarge(limit)
		}
		if _, ok := errors.AsType[*HTTPError](err); !ok {
			return nil, httpError(http.StatusBadRequest, "There was an error parsing the multipart body")
		}
		return nil, err
	}
	return values, nil
}

func streamForm(mr *multipart.Reader, u *uploads, fields []string) (map[string]string, error) {
	values := map[string]string{}
	for {
		part, err := mr.NextPart()
		//nolint:errorlint // only a bare io.EOF is the closing boundary; a body cut short wraps it
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			return nil, err
		}
		name := part.FormName()
		switch {
		case name == "image" || name == "image[]":
			u.sawInputs = true
			i := len(u.inputs)
			label := fmt.Sprintf("image[%d]", i)
			if f := part.FileName(); f != "" {
				label += fmt.Sprintf(" (%q)", f)
			}
			err = u.add(part, -1, []any{"body", "image", i}, label, "", false)
		case name == "mask":
			err = u.add(part, -1, []any{"body", "mask"}, "mask", "", true)
		case slices.Contains(fields, name):
			values[name], err = formValue(part, name)
		default:
			_, err = io.Copy(io.Discard, part)
		}
		if err != nil {
			return nil, err
		}
	}
}

func formValue(part *multipart.Part, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFormField {
		return "", httpError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Form field %s is larger than %d KB", name, maxFormField>>10))
	}
	return string(b), nil
}
