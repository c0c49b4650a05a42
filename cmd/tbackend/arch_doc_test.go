package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docRow is one row of the package table of docs/architecture.md: "| `pkg` | what | imports |".
var docRow = regexp.MustCompile("^\\| `([^`]+)` \\|.*\\| ([^|]*) \\|$")

// docPackages reads the package table: package → the project packages it may import.
func docPackages(t *testing.T, text string) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		m := docRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if _, dup := pkgs[m[1]]; dup {
			t.Errorf("docs/architecture.md lists %s twice", m[1])
		}
		allowed := []string{}
		for _, a := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[2], -1) {
			allowed = append(allowed, a[1])
		}
		pkgs[m[1]] = allowed
	}
	return pkgs
}

// allows tells whether rule (a package, or "a/..." for a and everything under it) covers pkg.
func allows(rule, pkg string) bool {
	if dir, ok := strings.CutSuffix(rule, "/..."); ok {
		return pkg == dir || strings.HasPrefix(pkg, dir+"/")
	}
	return pkg == rule
}

// TestArchitectureDoc keeps docs/architecture.md true: its package table lists exactly the
// packages of the module, and every package imports only the project packages its row allows.
func TestArchitectureDoc(t *testing.T) {
	raw, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := docPackages(t, string(raw))
	listed := map[string]bool{}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.path, module+"/")
		listed[rel] = true
		allowed, ok := doc[rel]
		if !ok {
			t.Errorf("docs/architecture.md does not list %s", rel)
			continue
		}
		for _, imp := range p.imports {
			own, ok := strings.CutPrefix(imp, module+"/")
			if ok && !slices.ContainsFunc(allowed, func(rule string) bool { return allows(rule, own) }) {
				t.Errorf("%s imports %s, which its row in docs/architecture.md does not allow", rel, own)
			}
		}
	}
	for p := range doc {
		if !listed[p] {
			t.Errorf("docs/architecture.md lists %s, which go list does not show", p)
		}
	}
}

func TestArchitectureDocTable(t *testing.T) {
	got := docPackages(t, "| package | what | may import |\n|---|---|---|\n"+
		"| `api` | the api, with a `code` span | `jobs`, `storage/...` |\n| `jobs` | a leaf | — |\n")
	if len(got) != 2 || !slices.Equal(got["api"], []string{"jobs", "storage/..."}) || len(got["jobs"]) != 0 {
		t.Fatalf("%v", got)
	}
	if !allows("storage/...", "storage/objstore") || !allows("storage/...", "storage") || allows("storage/...", "storagex") || allows("api", "api/x") {
		t.Fatal("allows")
	}
}
