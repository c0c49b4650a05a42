package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/emulators/openai"
	"github.com/tbackend/tbackend/internal/testwait"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/ledger"
	"github.com/tbackend/tbackend/storage/redistest"
)

const streamBody = `{"message":"paid stream","stream":true}`

// paidStream opens a paid streamed chat; the response is either an event stream or a refusal.
func paidStream(t *testing.T, base, id, proof string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(streamBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Invoice-Id", id)
	req.Header.Set("X-Payment", proof)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// streamFrames reads a paid stream to its end and returns its frames.
func streamFrames(t *testing.T, res *http.Response) []frame {
	t.Helper()
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("paid stream: %d %s", res.StatusCode, b)
	}
	return parseFrames(t, readEvents(t, bufio.NewReader(res.Body), 0))
}

// paidInvoice opens the invoice of a streamed chat and pays it; it returns the id and the tx hash.
func (e *payEnv) paidInvoice(t *testing.T) (string, string) {
	t.Helper()
	e.catchUp()
	d := invoiceOf(t, e.spec.call(t, "POST", e.base+"/chat", "", streamBody))
	tx := e.put(t, e.payment(t, d))
	e.chain.AdvanceTip(2)
	return d["invoiceId"].(string), tx
}

// waitStatus waits until GET /payments/status reports status and an error starting with errPrefix.
func waitStatus(t *testing.T, base, id, status, errPrefix string) {
	t.Helper()
	testwait.For(t, fmt.Sprintf("invoice %s to be %s (error %s…)", id, status, errPrefix), 10*time.Second, func() bool {
		st := call(t, "GET", base+"/payments/status/"+id, "", "")
		e, _ := st.body["error"].(string)
		return st.body["status"] == status && strings.HasPrefix(e, errPrefix)
	})
}

// A paid stream that ends in an error frame delivered nothing: the payment stays usable, and the
// same retry streams to done and uses it.
func TestPaidStreamSettlesOnDelivery(t *testing.T) {
	e := newPayEnv(t)
	id, tx := e.paidInvoice(t)
	for _, f := range []openaiemu.Fault{{Kind: openaiemu.FaultStreamError, After: 3}, {Kind: openaiemu.FaultCut, After: 3}} {
		e.llm.SetFaults(f)
		frames := streamFrames(t, paidStream(t, e.base, id, tx))
		if last := frames[len(frames)-1]; last.Type != "error" {
			t.Fatalf("%s: last frame %+v", f.Kind, last)
		}
		waitStatus(t, e.base, id, "confirmed", "stream_")
	}
	e.llm.ClearFaults()

	// The client leaves mid-stream: the job is canceled and the payment stays usable.
	e.llm.SetChunkDelay(300 * time.Millisecond)
	res := paidStream(t, e.base, id, tx)
	readEvents(t, bufio.NewReader(res.Body), 2)
	res.Body.Close()
	waitStatus(t, e.base, id, "confirmed", "stream_client_gone")
	e.llm.SetChunkDelay(0)
	e.llm.ResetStats()

	// 50 simultaneous retries of the stream with the same proof: one stream is delivered.
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[string]int{}
	for range 50 {
		wg.Go(func() {
			res := paidStream(t, e.base, id, tx)
			outcome := fmt.Sprint(res.StatusCode)
			if res.StatusCode == 200 {
				frames := streamFrames(t, res)
				outcome = frames[len(frames)-1].Type
			} else {
				res.Body.Close()
			}
			mu.Lock()
			count[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count["done"] != 1 || count["done"]+count["402"]+count["409"] != 50 || e.llm.Requests(openaiemu.EndpointChatCompletions) != 1 {
		t.Fatalf("outcomes %v and %d model calls, want one done stream, the rest 402/409, one model call",
			count, e.llm.Requests(openaiemu.EndpointChatCompletions))
	}
	if st := call(t, "GET", e.base+"/payments/status/"+id, "", ""); st.body["status"] != "consumed" {
		t.Fatalf("after the delivered stream: %s", st.raw)
	}
	wantRefusal(t, call(t, "POST", e.base+"/chat", "", streamBody, "X-Invoice-Id", id, "X-Payment", tx), "invoice_consumed")
}

// A prepaid credit spent on a stream that fails comes back; a delivered stream keeps it spent.
func TestPrepaidStreamRefundsWhenNotDelivered(t *testing.T) {
	e := newPayEnv(t)
	e.catchUp()
	wallet := exampleWallet
	hdr := []string{"X-Partner", "bulk", "X-Wallet-Address", wallet}
	d := invoiceOf(t, e.chat(t, hdr...))
	tx := e.put(t, e.paymentFrom(t, d, wallet))
	e.chain.AdvanceTip(2)
	if r := e.retry(t, d["invoiceId"].(string), tx, hdr...); r.status != 200 {
		t.Fatalf("the paying call: %d %s", r.status, r.raw)
	}
	auth := e.signIn(t, wallet)
	credits := func() float64 {
		return call(t, "GET", e.base+"/payments/balance?partner=bulk&wallet="+wallet, "", "").body["credits"].(float64)
	}
	open := func() *http.Response {
		req, _ := http.NewRequest("POST", e.base+"/chat", strings.NewReader(streamBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Partner", "bulk")
		req.Header.Set("X-Wallet-Address", wallet)
		req.Header.Set(auth[0], auth[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	e.llm.SetFaults(openaiemu.Fault{Kind: openaiemu.FaultStreamError, After: 2})
	if f := streamFrames(t, open()); f[len(f)-1].Type != "error" {
		t.Fatalf("failing stream ended %+v", f[len(f)-1])
	}
	testwait.For(t, "the credit of the failed stream to come back", 10*time.Second, func() bool { return credits() == 9 })
	e.llm.ClearFaults()
	if f := streamFrames(t, open()); f[len(f)-1].Type != "done" {
		t.Fatalf("stream ended %+v", f[len(f)-1])
	}
	if c := credits(); c != 8 {
		t.Fatalf("%v credits after a delivered stream, want 8", c)
	}
}

// A paid stream that ran with no worker at all delivered nothing: when its client gives up, the
// payment is usable again, and a worker started later serves the retry.
func TestPaidStreamWithoutWorker(t *testing.T) {
	rdb := redistest.Claim(t)
	o := rdb.Options()
	redisURL := fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
	llm := openaiemu.New("sk-test")
	llmURL := serveEmulator(t, llm.Start)
	shop := blockfrostemu.New("proj").Address("shop")
	cfg := filepath.Join(t.TempDir(), "payments.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "network: mainnet\npay_to: %s\nasset: ADA\ndecimals: 6\nmin_confirmations: 2\ninvoice_timeout: 300s\nprices:\n  /chat: %d\n", shop, chatPrice), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := envOf("REDIS_URL", redisURL, "HTTP_ADDR", addr, "OPENAI_API_KEY", "sk-test", "OPENAI_BASE_URL", llmURL,
		"BLOCKFROST_PROJECT_ID", "proj", "STORAGE_DIR", t.TempDir(), "FILES_SIGNING_KEY", strings.Repeat("k", 32),
		"PAYMENTS_CONFIG", cfg)
	start(t, []string{"api"}, env)
	base := "http://" + addr
	testwait.For(t, "the api to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	d := invoiceOf(t, call(t, "POST", base+"/chat", "", streamBody))
	id := d["invoiceId"].(string)
	// The chain check needs a worker too: confirm the payment in the ledger as one would.
	tx := strings.Repeat("ab", 32)
	if _, err := ledger.New(rdb, storage.NewKeys(""), nil).Confirm(context.Background(), id, tx, time.Now()); err != nil {
		t.Fatal(err)
	}
	res := paidStream(t, base, id, tx)
	if res.StatusCode != 200 {
		t.Fatalf("paid stream: %d", res.StatusCode)
	}
	time.Sleep(1500 * time.Millisecond) // queued, no frame
	res.Body.Close()
	waitStatus(t, base, id, "confirmed", "stream_client_gone")

	metricsAddr := freeAddr(t)
	start(t, []string{"worker"}, func(k string) string {
		if k == "METRICS_ADDR" {
			return metricsAddr
		}
		return env(k)
	})
	frames := streamFrames(t, paidStream(t, base, id, tx))
	if last := frames[len(frames)-1]; last.Type != "done" {
		t.Fatalf("retry with a worker: last frame %+v", last)
	}
	waitStatus(t, base, id, "consumed", "")
}
