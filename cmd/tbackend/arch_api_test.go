package main

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// fiberPackages are the import paths that must not show in api's exported identifiers: fiber and
// the fasthttp it is built on.
var fiberPackages = []string{"github.com/gofiber/", "github.com/valyala/fasthttp"}

// exportImporter imports packages from the compiler's export data of pkg and its dependencies
// (go list -export builds it, or finds it in the build cache).
func exportImporter(t *testing.T, fset *token.FileSet, pkg string) types.Importer {
	t.Helper()
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	files := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, "=")
		files[path] = file
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if files[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(files[path])
	})
}

// TestArchitectureAPIExports keeps fiber inside api: no exported identifier of api (function,
// variable, type, field or method) mentions a fiber or fasthttp type, so callers use the api's
// own surface (NewServer, Serve) and fiber can be replaced without touching them.
func TestArchitectureAPIExports(t *testing.T) {
	fset := token.NewFileSet()
	imp := exportImporter(t, fset, module+"/api")
	pkg, err := imp.Import(module + "/api")
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range fiberLeaks(pkg) {
		t.Errorf("api exports %s: fiber types stay unexported", leak)
	}

	// The check itself finds a leak in each kind of exported identifier.
	src := `package p
import "github.com/gofiber/fiber/v2"
type S struct{ App *fiber.App; app *fiber.App }
type s struct{ H fiber.Handler }
type I interface{ Ctx() map[string]*fiber.Ctx }
type A = fiber.Config
var V []func(fiber.Router)
func F() s { return s{} }
func (S) M(chan<- fiber.Map) {}
func (S) m(*fiber.Ctx) {}
`
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := (&types.Config{Importer: imp}).Check("p", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := fiberLeaks(fake)
	want := []string{"A", "F", "I", "S", "S.M", "V"}
	if !slices.Equal(got, want) {
		t.Errorf("fiberLeaks on a sample = %v, want %v", got, want)
	}
}

// fiberLeaks names the exported identifiers of pkg whose types mention a fiber type.
func fiberLeaks(pkg *types.Package) []string {
	var leaks []string
	for _, name := range pkg.Scope().Names() {
		obj := pkg.Scope().Lookup(name)
		if !obj.Exported() {
			continue
		}
		w := fiberWalk{own: pkg, seen: map[types.Type]bool{}}
		named, ok := obj.Type().(*types.Named)
		if _, isType := obj.(*types.TypeName); !isType || !ok || named.Obj().Pkg() != pkg {
			if w.mentions(obj.Type()) {
				leaks = append(leaks, name)
			}
			continue
		}
		// One of the package's own types: its insides and each exported method are reported apart.
		if w.mentions(named.Underlying()) {
			leaks = append(leaks, name)
		}
		for m := range named.Methods() {
			if m.Exported() && w.mentions(m.Type()) {
				leaks = append(leaks, name+"."+m.Name())
			}
		}
	}
	return leaks
}

// fiberWalk looks for fiber types in the types a caller of own can reach.
type fiberWalk struct {
	own  *types.Package
	seen map[types.Type]bool // the types looked at already (or being looked at: recursive types)
}

// mentions reports whether a caller could reach a fiber type through t: t itself, its elements,
// parameters and results, exported fields and methods, and the insides of this module's types
// (an exported function may return an unexported type). Other modules' types are theirs.
func (w fiberWalk) mentions(t types.Type) bool {
	if w.seen[t] {
		return false
	}
	w.seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		return w.mentions(types.Unalias(t))
	case *types.Named:
		return w.named(t)
	case *types.Pointer:
		return w.mentions(t.Elem())
	case *types.Slice:
		return w.mentions(t.Elem())
	case *types.Array:
		return w.mentions(t.Elem())
	case *types.Chan:
		return w.mentions(t.Elem())
	case *types.Map:
		return w.mentions(t.Key()) || w.mentions(t.Elem())
	case *types.Signature:
		return w.mentions(t.Params()) || w.mentions(t.Results())
	case *types.Tuple:
		for v := range t.Variables() {
			if w.mentions(v.Type()) {
				return true
			}
		}
	case *types.Struct:
		for f := range t.Fields() {
			if f.Exported() && w.mentions(f.Type()) {
				return true
			}
		}
	case *types.Interface:
		for m := range t.Methods() {
			if w.mentions(m.Type()) {
				return true
			}
		}
	case *types.TypeParam:
		return w.mentions(t.Constraint())
	}
	return false
}

func (w fiberWalk) named(t *types.Named) bool {
	pkg := t.Obj().Pkg()
	if pkg == nil {
		return false // error, comparable
	}
	for _, p := range fiberPackages {
		if strings.HasPrefix(pkg.Path(), p) {
			return true
		}
	}
	for a := range t.TypeArgs().Types() {
		if w.mentions(a) {
			return true
		}
	}
	if pkg != w.own && !strings.HasPrefix(pkg.Path(), module+"/") {
		return false
	}
	for m := range t.Methods() {
		if m.Exported() && w.mentions(m.Type()) {
			return true
		}
	}
	return w.mentions(t.Underlying())
}
