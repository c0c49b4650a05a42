package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var payStepRE = regexp.MustCompile(`(?m)^  2\. \S+(?: run \./cmd/tbackend)? pay (.*) > (\S+)$`)

// The dev banner's 402 → pay → retry loop, followed as printed: `tbackend dev` with nothing
// configured pays on its own emulated chain (20 s blocks) from the dev wallet it funded.
func TestDevBannerPaysForAChat(t *testing.T) {
	wallet := filepath.Join(t.TempDir(), "dev-wallet.skey")
	s, base, _ := startDev(t, "REDIS_URL", testRedisURL(t), "DEV_WALLET", wallet)
	banner := s.stdout.String()
	m := payStepRE.FindStringSubmatch(banner)
	if m == nil || !strings.Contains(banner, "1. curl -s -o ") || !strings.Contains(banner, "3. curl -s -H @"+m[2]) {
		t.Fatalf("the banner has no 402 → pay → retry loop:\n%s", banner)
	}
	if _, err := os.Stat(wallet); err != nil {
		t.Fatalf("the dev wallet's key was not saved: %v", err)
	}
	spec := newSpecChecker(t, base)

	// 1: the call without a key is a 402, saved to the file step 2 reads.
	first := spec.call(t, "POST", base+"/chat", "", devChatBody)
	d := invoiceOf(t, first)
	args := strings.Fields(m[1])
	if err := os.WriteFile(args[1], []byte(first.raw), 0o600); err != nil { // args: --from-402 FILE …
		t.Fatal(err)
	}
	// 2: pay, with the headers on stdout.
	var out, log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, append([]string{"pay"}, args...), envOf(), &out, &log); err != nil {
		t.Fatalf("pay: %v\n%s", err, log.String())
	}
	want := "X-Invoice-Id: " + d["invoiceId"].(string) + "\nX-Payment: "
	if !strings.HasPrefix(out.String(), want) || !strings.Contains(log.String(), "-H 'X-Payment: ") {
		t.Fatalf("pay printed %q (log %s)", out.String(), log.String())
	}
	// 3: the retry with those headers is served.
	hdr := []string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		hdr = append(hdr, k, v)
	}
	r := spec.call(t, "POST", base+"/chat", "", devChatBody, hdr...)
	if r.status != 200 || !strings.Contains(r.raw, "Hello from dev") {
		t.Fatalf("paid retry: %d %s", r.status, r.raw)
	}
	st := spec.call(t, "GET", base+"/payments/status/"+d["invoiceId"].(string), "", "")
	if st.body["status"] != "consumed" {
		t.Fatalf("status after the paid call: %s", st.raw)
	}
}
