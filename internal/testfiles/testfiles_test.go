package testfiles_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tbackend/tbackend/internal/testfiles"
)

// From this package directory, two levels below the root, the data is found at the root.
func TestReadFindsTheModuleRoot(t *testing.T) {
	readme := testfiles.Read(t, "README.md")
	if !strings.Contains(string(readme), "third-party test data") {
		t.Fatalf("testdata/README.md is not the expected file:\n%.200s", readme)
	}
	p := testfiles.Path(t, "cardano", "transactions.json")
	if !filepath.IsAbs(p) {
		t.Fatalf("Path %q is not absolute", p)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(p))), "go.mod")); err != nil {
		t.Fatalf("Path %q is not under the module root: %v", p, err)
	}
}

// A missing file fails the test with its name, instead of handing back nil bytes.
func TestReadOfAMissingFileFails(t *testing.T) {
	f := &fatalRecorder{TB: t}
	done := make(chan []byte)
	go func() {
		defer close(done)
		done <- testfiles.Read(f, "cardano", "no-such-file.json")
	}()
	if b, ok := <-done; ok {
		t.Fatalf("Read of a missing file returned %q", b)
	}
	if !strings.Contains(f.msg, filepath.Join("cardano", "no-such-file.json")) {
		t.Fatalf("the failure does not name the file: %q", f.msg)
	}
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
