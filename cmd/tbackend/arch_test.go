package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tbackend/tbackend"

type pkgImports struct {
	path                 string
	imports, tests, deps []string
}

func listPackages(t *testing.T) []pkgImports {
	t.Helper()
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports ","}}|{{join .TestImports ","}},{{join .XTestImports ","}}|{{join .Deps ","}}`,
		module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgImports
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs = append(pkgs, pkgImports{f[0], split(f[1]), split(f[2]), split(f[3])})
	}
	return pkgs
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func under(pkg, dir string) bool {
	return pkg == module+"/"+dir || strings.HasPrefix(pkg, module+"/"+dir+"/")
}

// TestArchitecture keeps the layering of docs/design.md: fiber only in api/; api and workers never
// depend on each other (not even indirectly); storage depends on no other project package but
// stream; jobs is a leaf that imports asynq, the standard library and stream; stream (the chat
// stream's wire format, shared by jobs, storage, api and workers) imports the standard library
// only.
func TestArchitecture(t *testing.T) {
	for _, p := range listPackages(t) {
		all := append(append([]string{}, p.imports...), p.tests...)
		for _, imp := range all {
			if strings.HasPrefix(imp, "github.com/gofiber/") && !under(p.path, "api") {
				t.Errorf("%s imports %s: fiber stays inside api/", p.path, imp)
			}
		}
		for _, dep := range append(p.deps, all...) {
			switch {
			case under(p.path, "api") && under(dep, "workers"), under(p.path, "workers") && under(dep, "api"):
				t.Errorf("%s depends on %s: api and workers speak only through jobs", p.path, dep)
			case under(p.path, "storage") && strings.HasPrefix(dep, module+"/") && !under(dep, "storage") && dep != module+"/stream" &&
				!(under(dep, "internal") && slices.Contains(p.tests, dep)):
				// Tests may use the internal test helpers; the package itself imports none of ours.
				t.Errorf("%s depends on %s: storage imports no other project package (but stream)", p.path, dep)
			}
		}
		if p.path == module+"/jobs" {
			for _, imp := range p.imports {
				if strings.Contains(strings.Split(imp, "/")[0], ".") && imp != "github.com/hibiken/asynq" && imp != module+"/stream" {
					t.Errorf("jobs imports %s: it is a leaf (asynq, the standard library and stream only)", imp)
				}
			}
		}
		if p.path == module+"/stream" {
			for _, imp := range p.imports {
				if strings.Contains(strings.Split(imp, "/")[0], ".") {
					t.Errorf("stream imports %s: it is a leaf (the standard library only)", imp)
				}
			}
		}
	}
}
