package main

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
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

// emulatorFree are the service's own layers: their code never depends on the upstream emulators.
var emulatorFree = []string{"api", "workers", "storage", "jobs", "payments", "cardano"}

// emulatorTests are the layers whose tests may run against the emulators.
var emulatorTests = []string{"workers", "payments"}

// TestArchitecture keeps the layering of docs/design.md: fiber only in api/; api and workers never
// depend on each other (not even indirectly); storage depends on no other project package but
// stream (the frames it relays), except where it persists a domain (storageDomain), and a domain
// package (payments) depends on nothing but cardano; packages under workers/ never import workers
// itself; jobs is a leaf that imports asynq, the standard library and stream; stream (the chat
// stream's wire format, shared by jobs, storage, api and workers) imports the standard library
// only; the emulators stand outside the service (see checkEmulators).
func TestArchitecture(t *testing.T) {
	checkEmulators(t, listPackages(t))
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
				!slices.ContainsFunc(storageDomain[strings.TrimPrefix(p.path, module+"/")], func(d string) bool { return under(dep, d) }) &&
				!(under(dep, "internal") && slices.Contains(p.tests, dep)):
				// Tests may use the internal test helpers; the package itself imports none of ours.
				t.Errorf("%s depends on %s: storage imports no other project package but stream and the domain it persists", p.path, dep)
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

// checkEmulators keeps the emulators outside the service: no package under api/, workers/,
// storage/, jobs/, payments/ or cardano/ depends on emulators/, not even indirectly; of their
// tests only those of workers/ and payments/ may import emulators/; the emulators depend on no
// api/, workers/ or storage/ package (their tests neither); and in cmd/tbackend only dev.go
// imports them, so the api and worker roles link no emulator code of their own.
func checkEmulators(t *testing.T, pkgs []pkgImports) {
	t.Helper()
	inAny := func(pkg string, dirs []string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return under(pkg, d) })
	}
	for _, p := range pkgs {
		switch {
		case inAny(p.path, emulatorFree):
			for _, dep := range append(slices.Clone(p.deps), p.imports...) {
				if under(dep, "emulators") {
					t.Errorf("%s depends on %s: the service's layers never use an emulator", p.path, dep)
				}
			}
			for _, imp := range p.tests {
				if under(imp, "emulators") && !inAny(p.path, emulatorTests) {
					t.Errorf("tests of %s import %s: only workers/ and payments/ tests use the emulators", p.path, imp)
				}
			}
		case under(p.path, "emulators"):
			for _, dep := range append(append(slices.Clone(p.deps), p.imports...), p.tests...) {
				if inAny(dep, []string{"api", "workers", "storage"}) {
					t.Errorf("%s depends on %s: an emulator stands in for a third party, not for our code", p.path, dep)
				}
			}
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "dev.go" {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); under(path, "emulators") {
				t.Errorf("cmd/tbackend/%s imports %s: only dev.go constructs emulators", name, path)
			}
		}
	}
}
