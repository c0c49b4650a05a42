package api

import (
	"slices"
	"strings"
	"testing"
)

// docTags are the document's groups in the order /docs shows them: the public ones first, the
// operator's last.
var docTags = []string{"chat", "token analysis", "images", "payments", "wallet sign-in", "jobs", "operator"}

// TestOpenAPITagsAndSecurity: every operation sits in exactly one declared group, and says who may
// call it as routes.go does (`security: []` for public routes, the key for the others).
func TestOpenAPITagsAndSecurity(t *testing.T) {
	h := newHarness(t)
	var declared []string
	for _, tag := range h.doc.Tags {
		declared = append(declared, tag.Name)
		if tag.Description == "" {
			t.Errorf("tag %q has no description", tag.Name)
		}
	}
	if !slices.Equal(declared, docTags) {
		t.Fatalf("top-level tags %q, want %q", declared, docTags)
	}
	auth := map[string]string{}
	for _, r := range h.srv.surface() {
		auth[r.Method+" "+r.Path] = r.Auth
	}
	for path, item := range h.doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := method + " " + path
			if len(op.Tags) != 1 || !slices.Contains(docTags, op.Tags[0]) {
				t.Errorf("%s has tags %q, want one of %q", route, op.Tags, docTags)
			}
			if op.Security == nil {
				t.Errorf("%s states no security", route)
				continue
			}
			keyed := false
			for _, req := range *op.Security {
				_, ok := req["apiKey"]
				keyed = keyed || ok
			}
			if want := strings.HasPrefix(auth[route], "api-key"); keyed != want {
				t.Errorf("%s: api-key in its security is %v, routes.go says %q", route, keyed, auth[route])
			}
		}
	}
}
