package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tbackend/tbackend/imagefmt"
)

// inlineImage is an image sent inside a JSON body as base64 text: a data URI
// (`data:image/png;base64,...`) or bare base64 (where a route takes it). It is decoded from the
// JSON text itself while the body is decoded, so a request holds its body and the image's bytes
// (about 1.75 × the body), never the base64 as a string besides (2.75 ×). Whether the image is
// acceptable is each route's to say (inlineImage.problem): only the decoding is shared.
type inlineImage struct {
	uri      bool   // sent as a data URI
	declared string // the data URI's media type, as sent
	data     []byte
	fault    inlineFault
}

// inlineFault is why an inline image did not decode.
type inlineFault int

const (
	inlineOK        inlineFault = iota
	inlineNotURI                // starts with data: but is not `data:<type>;base64,<data>`
	inlineBadBase64             // not valid base64
	inlineTooLarge              // more than maxImageBytes decoded, so not decoded at all
)

// UnmarshalJSON decodes the JSON string b (a view into the body: not kept). null leaves an empty
// image, as it leaves an empty string.
func (im *inlineImage) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*im = inlineImage{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string]()}
	}
	text, owned := b[1:len(b)-1], false
	if bytes.IndexByte(text, '\\') >= 0 {
		// Escapes (a JSON encoder may write / as \/): unescaped into a buffer of our own, into
		// which the bytes are then decoded too.
		var ok bool
		if text, ok = unescapeJSON(text); !ok {
			*im = inlineImage{fault: inlineBadBase64}
			return nil
		}
		owned = true
	}
	*im = inlineImage{}
	if rest, ok := bytes.CutPrefix(text, []byte("data:")); ok {
		head, payload, found := bytes.Cut(rest, []byte(","))
		mime, isB64 := bytes.CutSuffix(head, []byte(";base64"))
		if !found || !isB64 {
			im.fault = inlineNotURI
			return nil
		}
		im.uri, im.declared, text = true, string(mime), payload
	}
	im.data, im.fault = decodeBase64(bytes.TrimSpace(text), owned)
	return nil
}

// decodeBase64 decodes standard base64 (line breaks ignored). owned: src is ours to overwrite, and
// the bytes are decoded into it (they are shorter than their text, and a streaming decoder has
// read each byte before it writes where that byte was).
func decodeBase64(src []byte, owned bool) ([]byte, inlineFault) {
	n := len(src) - bytes.Count(src, []byte("\n")) - bytes.Count(src, []byte("\r"))
	size := base64.StdEncoding.DecodedLen(n)
	if size > maxImageBytes+2 {
		return nil, inlineTooLarge
	}
	dst := src[:0:size]
	if !owned {
		dst = make([]byte, 0, size)
	}
	dec := base64.NewDecoder(base64.StdEncoding, bytes.NewReader(src))
	for {
		k, err := dec.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+k]
		switch {
		case errors.Is(err, io.EOF):
			return dst, inlineOK
		case err != nil:
			return nil, inlineBadBase64
		case len(dst) == cap(dst):
			// Full: what is left must be the end (a cut quantum or garbage is an error now).
			if k, err := dec.Read(make([]byte, 1)); k > 0 || !errors.Is(err, io.EOF) {
				return nil, inlineBadBase64
			}
			return dst, inlineOK
		}
	}
}

// unescapeJSON undoes the escapes of a JSON string's text (already checked by the decoder).
// Base64 is ASCII: an escape of anything else makes it invalid (ok false).
func unescapeJSON(s []byte) (out []byte, ok bool) {
	out = make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'u':
			if i+4 >= len(s) {
				return nil, false
			}
			r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 16)
			if err != nil || r >= utf8.RuneSelf {
				return nil, false
			}
			out = append(out, byte(r))
			i += 4
		default: // \b \f \t: not in base64
			return nil, false
		}
	}
	return out, true
}

// chatImageTypes are the formats chat takes inline.
var chatImageTypes = []string{"image/png", "image/jpeg", "image/webp", "image/gif"}

// checkChatImage is what chat requires of image_data: a data URI of one of chatImageTypes that
// is what its bytes are, of at most maxBytes.
func checkChatImage(field string, im *inlineImage, maxBytes int) (imagefmt.Info, error) {
	bad := func(msg string) error { return unprocessable([]any{"body", field}, msg, "value_error") }
	declared := strings.ToLower(im.declared)
	switch {
	case im.fault == inlineNotURI || !im.uri:
		return imagefmt.Info{}, bad("Value should be a base64 data URI (data:image/png;base64,...)")
	case !slices.Contains(chatImageTypes, declared):
		return imagefmt.Info{}, bad("Image type should be image/png, image/jpeg, image/webp or image/gif")
	case im.fault == inlineTooLarge || len(im.data) > maxBytes:
		return imagefmt.Info{}, httpError(http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is larger than %d MB decoded", field, maxBytes>>20))
	case im.fault == inlineBadBase64:
		return imagefmt.Info{}, bad("Value is not valid base64")
	}
	info, err := imagefmt.Detect(im.data)
	if err != nil || info.MIME != declared {
		return imagefmt.Info{}, bad(fmt.Sprintf("Image bytes are not %s", declared))
	}
	return info, nil
}
