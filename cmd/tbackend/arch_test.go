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

// domainDeps are the project packages a domain package (payments) may depend on: none but the
// codecs. Persistence implements the domain, never the reverse, so the rules stay testable alone.
var domainDeps = []string{"cardano"}

// storageDomain maps a storage package to the domain it persists: only there may storage depend
// on a project package outside storage/ (that domain and what it depends on).
var storageDomain = map[string][]string{
	"storage/ledger": {"payments", "cardano"},
}

// TestArchitecture keeps the layering of docs/design.md: fiber only in api/; api and workers never
// depend on each other (not even indirectly); storage depends on no other project package except
// where it persists a domain (storageDomain), and a domain package (payments) depends on nothing
// but cardano; packages under workers/ never import workers itself; jobs is a leaf that imports
// asynq and the standard library only.
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
			case under(p.path, "storage") && strings.HasPrefix(dep, module+"/") && !under(dep, "storage") &&
				!slices.ContainsFunc(storageDomain[strings.TrimPrefix(p.path, module+"/")], func(d string) bool { return under(dep, d) }) &&
				!(under(dep, "internal") && slices.Contains(p.tests, dep)):
				// Tests may use the internal test helpers; the package itself imports none of ours.
				t.Errorf("%s depends on %s: storage imports no other project package but the domain it persists", p.path, dep)
			}
		}
		if under(p.path, "payments") {
			// Its own code only: its tests may run against the upstream emulators.
			for _, dep := range p.deps {
				if strings.HasPrefix(dep, module+"/") && !slices.ContainsFunc(domainDeps, func(d string) bool { return under(dep, d) }) {
					t.Errorf("%s depends on %s: the payment domain imports only cardano (storage persists it, not the reverse)", p.path, dep)
				}
			}
		}
		if under(p.path, "workers") && p.path != module+"/workers" && slices.Contains(p.imports, module+"/workers") {
			// The parent wires its children; a child importing it would tie every part to all of it.
			// (Tests may: they wire real clients.)
			t.Errorf("%s imports its parent workers: move what it needs into a child package", p.path)
		}
		if p.path == module+"/jobs" {
			for _, imp := range p.imports {
				if strings.Contains(strings.Split(imp, "/")[0], ".") && imp != "github.com/hibiken/asynq" {
					t.Errorf("jobs imports %s: it is a leaf (asynq and the standard library only)", imp)
				}
			}
		}
	}
}
