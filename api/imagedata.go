package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// inlineImage is an image a caller sent inside a JSON body.
type inlineImage struct {
	MIME string
	Ext  string
	Data []byte
}

// imageTypes are the formats accepted inline, with their file extensions.
var imageTypes = map[string]string{"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

// sniffImage names an image format from its first bytes ("" when it is none of ours).
func sniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "image/webp"
	}
	return ""
}

// decodeDataURI checks and decodes `data:image/<type>;base64,<data>`. A declared type must be
// one we take and must match the bytes; the decoded size is checked before decoding.
func decodeDataURI(field, uri string, maxBytes int) (inlineImage, error) {
	loc := []any{"body", field}
	bad := func(msg, typ string) error {
		return &HTTPError{Status: http.StatusUnprocessableEntity, Detail: []FieldError{{Loc: loc, Msg: msg, Type: typ}}}
	}
	head, payload, ok := strings.Cut(uri, ",")
	mime, isB64 := strings.CutSuffix(strings.TrimPrefix(head, "data:"), ";base64")
	if !ok || !strings.HasPrefix(head, "data:") || !isB64 {
		return inlineImage{}, bad("Value should be a base64 data URI (data:image/png;base64,...)", "value_error")
	}
	ext, known := imageTypes[strings.ToLower(mime)]
	if !known {
		return inlineImage{}, bad("Image type should be image/png, image/jpeg, image/webp or image/gif", "value_error")
	}
	if base64.StdEncoding.DecodedLen(len(payload)) > maxBytes+2 {
		return inlineImage{}, &HTTPError{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("%s is larger than %d MB decoded", field, maxBytes>>20)}
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return inlineImage{}, bad("Value is not valid base64", "value_error")
	}
	if len(data) > maxBytes {
		return inlineImage{}, &HTTPError{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("%s is larger than %d MB decoded", field, maxBytes>>20)}
	}
	if got := sniffImage(data); got != strings.ToLower(mime) {
		return inlineImage{}, bad(fmt.Sprintf("Image bytes are not %s", strings.ToLower(mime)), "value_error")
	}
	return inlineImage{MIME: strings.ToLower(mime), Ext: ext, Data: data}, nil
}
