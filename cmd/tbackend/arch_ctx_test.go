package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rootContexts are the files of the service's packages that may start a context from nothing,
// and why: they have no caller whose context they could detach from.
var rootContexts = map[string]string{
	"storage/hub.go":  "the process's one subscription and its reconnect loop outlive every caller",
	"api/sse.go":      "a relay writes the stream after its handler returned: no request context is left",
	"workers/chat.go": "countTokens takes no context (yet)",
	"api/server.go":   "the server's stop signals (streams, synchronous waits) are roots that every request watches",
}

// TestArchitectureDetachedContexts keeps one way of doing work that must outlive a caller
// (cleanup after a departed client, settling a payment, a final frame): detach the caller's
// context with context.WithoutCancel, plus a timeout, which keeps its values (request id, trace)
// where context.Background() would drop them. Only the files in rootContexts start from nothing.
func TestArchitectureDetachedContexts(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root := strings.TrimSpace(string(mustOutput(t, "go", "list", "-m", "-f", "{{.Dir}}")))
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if !servicePackage(f[0]) {
			continue
		}
		for _, name := range split(f[2]) {
			rel, _ := filepath.Rel(root, filepath.Join(f[1], name))
			rel = filepath.ToSlash(rel)
			src, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"context.Background()", "context.TODO()"} {
				if strings.Contains(string(src), bad) && rootContexts[rel] == "" {
					t.Errorf("%s calls %s: detach the caller's context (context.WithoutCancel) instead", rel, bad)
				}
			}
		}
	}
}

// servicePackage tells the packages whose code runs on behalf of callers: not the commands, the
// emulators (stand-ins for third parties), the fault suite or test support.
func servicePackage(path string) bool {
	for _, dir := range []string{"api", "jobs", "payments", "cardano", "imagefmt", "storage", "workers"} {
		if under(path, dir) && !strings.HasSuffix(path, "emu") && !under(path, "storage/redistest") {
			return true
		}
	}
	return false
}

func mustOutput(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}
