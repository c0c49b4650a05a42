package api

import (
	"bytes"
	"encoding/json"
)

// marshalJSON is the api's one JSON encoder (fiber's JSONEncoder and every body we encode
// ourselves). It never HTML-escapes: a signed URL copied from an answer must keep its literal
// `&`, or its signature no longer matches. Embedded json.RawMessage values (stored job results)
// are passed through literalHTML for the same reason.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return literalHTML(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// literalHTML undoes the \u0026, \u003c and \u003e escapes that encoding/json (the workers', or
// an older release's) puts in strings, so JSON bytes stored elsewhere reach the client with `&`,
// `<` and `>` as themselves. An escaped backslash (`\\u0026` is a backslash and the text u0026)
// is left alone. b is not modified; it is returned as is when there is nothing to undo.
func literalHTML(b []byte) []byte {
	i := bytes.Index(b, []byte(`\u00`))
	if i < 0 {
		return b
	}
	var out []byte
	last := 0 // b[last:] is not copied to out yet
	for i = bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if c, ok := htmlEscape(b[i:]); ok {
			if out == nil {
				out = make([]byte, 0, len(b))
			}
			out = append(append(out, b[last:i]...), c)
			last = i + 6
			i += 6
		} else {
			i += 2 // the escape's backslash and the character it escapes
		}
		j := bytes.IndexByte(b[min(i, len(b)):], '\\')
		if j < 0 {
			break
		}
		i += j
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// htmlEscape reports the character of the \u0026, \u003c or \u003e (any hex case) at the start of s.
func htmlEscape(s []byte) (byte, bool) {
	if len(s) < 6 || s[1] != 'u' || s[2] != '0' || s[3] != '0' {
		return 0, false
	}
	switch lo := s[5] | 0x20; {
	case s[4] == '2' && s[5] == '6':
		return '&', true
	case s[4] == '3' && lo == 'c':
		return '<', true
	case s[4] == '3' && lo == 'e':
		return '>', true
	}
	return 0, false
}
