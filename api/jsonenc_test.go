package api

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/tbackend/tbackend/storage"
)

func TestLiteralHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"u":"a?x=1\u0026y=2"}`, `{"u":"a?x=1&y=2"}`},
		{`"\u003cb\u003E \u0026amp;"`, `"<b> &amp;"`},
		{`"\\u0026"`, `"\\u0026"`},               // a backslash, then the text u0026
		{`"\\\u0026"`, `"\\&"`},                  // a backslash, then an escaped &
		{`"\u00e9\u0022\n"`, `"\u00e9\u0022\n"`}, // other escapes stay
		{`"plain"`, `"plain"`},
		{`"\u002"`, `"\u002"`}, // cut short: not ours to mend
		{`"\`, `"\`},
	} {
		if got := literalHTML([]byte(c.in)); string(got) != c.want {
			t.Errorf("literalHTML(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestMarshalJSONKeepsHTMLLiteral(t *testing.T) {
	stored := json.RawMessage(`{"url":"http://x/f?exp=1\u0026sig=2"}`) // as a worker's json.Marshal wrote it
	got, err := marshalJSON(map[string]any{"a": "<b> & c", "result": stored})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"<b> & c","result":{"url":"http://x/f?exp=1&sig=2"}}`
	if string(got) != want {
		t.Fatalf("marshalJSON = %s, want %s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

// A field the caller controls (here the key's name and owner) comes back with <, > and &
// as themselves in the raw bytes of the answer, not as \u003c, \u003e and \u0026.
func TestAnswersDoNotEscapeHTML(t *testing.T) {
	h := newHarness(t)
	const name = `<tom & jerry>`
	_, plain, err := h.keys.Create(context.Background(), storage.NewKeyParams{Name: name, Owner: "a&b", Scopes: []string{"chat"}, RPM: 10})
	if err != nil {
		t.Fatal(err)
	}
	res := h.do("GET", "/usage", "", "api-key", plain)
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if !bytes.Contains(res.Body, []byte(`"name":"<tom & jerry>"`)) || !bytes.Contains(res.Body, []byte(`"owner":"a&b"`)) {
		t.Fatalf("name or owner escaped: %s", res.Body)
	}
	if bytes.Contains(res.Body, []byte(`\u00`)) {
		t.Fatalf("HTML escapes in %s", res.Body)
	}
}

// BenchmarkLiteralHTML is the cost literalHTML adds to a pass-through answer the size of a token
// analysis: a scan when there is nothing to undo, a copy when there is.
func BenchmarkLiteralHTML(b *testing.B) {
	plain := bytes.Repeat([]byte(`{"k":"some text with \"quotes\" and \\ slashes","n":12345},`), 500)
	escaped := bytes.ReplaceAll(plain, []byte("some"), []byte(`a \u0026 b`))
	for name, body := range map[string][]byte{"nothing-to-undo": plain, "escapes": escaped} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				literalHTML(body)
			}
		})
	}
}
