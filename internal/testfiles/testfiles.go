// Package testfiles finds the repository's third-party test data (testdata/ at the module root:
// Cardano fixtures and upstream OpenAPI documents, see testdata/README.md) from any package's
// tests. Tests run in their package directory, so the root is the nearest directory above it
// holding go.mod; a relative path per package would break whenever a package moves.
package testfiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Path is the absolute path of testdata/<parts...> at the module root. It does not check
// that the file exists.
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testfiles: %v", err)
	}
	return filepath.Join(append([]string{root, "testdata"}, parts...)...)
}

// Read returns the bytes of testdata/<parts...>, failing the test with the path it tried.
func Read(t testing.TB, parts ...string) []byte {
	t.Helper()
	p := Path(t, parts...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("test data %s is missing or unreadable (it is tracked in the repository; see testdata/README.md): %v",
			filepath.Join(parts...), err)
	}
	return b
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
