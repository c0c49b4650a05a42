package workers_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tbackend/tbackend/emulators/blockfrost"
	"github.com/tbackend/tbackend/workers"
	"github.com/tbackend/tbackend/workers/blockfrosterr"
)

func newChainClient(t *testing.T, retries int) (*blockfrostemu.Emulator, func() error) {
	t.Helper()
	emu := blockfrostemu.New("proj")
	url, stop, err := emu.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	bf := workers.NewBlockfrost(workers.BlockfrostConfig{URL: url, ProjectID: "proj", RPS: 1000, Burst: 100,
		Retries: retries, MaxWait: 2 * time.Second}, workers.NewMetrics(prometheus.NewRegistry()))
	return emu, func() error {
		_, err := bf.Asset(context.Background(), blockfrostemu.SNEKUnit)
		return err
	}
}

func TestBlockfrostClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    blockfrostemu.Fault
		status   int   // 0: success
		attempts int64 // requests the emulator saw
	}{
		{"plain success", blockfrostemu.Fault{}, 0, 1},
		{"a rate limit is waited out", blockfrostemu.Fault{Kind: blockfrostemu.FaultRateLimit, Times: 1, RetryAfter: time.Second}, 0, 2},
		{"5xx is retried", blockfrostemu.Fault{Kind: blockfrostemu.FaultServerError, Times: 2}, 0, 3},
		{"persistent 5xx gives up with its status", blockfrostemu.Fault{Kind: blockfrostemu.FaultServerError}, 500, 4},
		{"a long Retry-After is not waited for", blockfrostemu.Fault{Kind: blockfrostemu.FaultRateLimit, RetryAfter: time.Minute}, 429, 1},
		{"a ban is not retried", blockfrostemu.Fault{Kind: blockfrostemu.FaultBanned}, 418, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, get := newChainClient(t, 3)
			if tc.fault.Kind != "" {
				tc.fault.Endpoint = blockfrostemu.EndpointAsset
				emu.SetFaults(tc.fault)
			}
			err := get()
			if got := blockfrosterr.Status(err); got != tc.status || (tc.status == 0) != (err == nil) {
				t.Fatalf("err %v (status %d), want status %d", err, got, tc.status)
			}
			if n := emu.Requests(blockfrostemu.EndpointAsset); n != tc.attempts {
				t.Fatalf("%d requests, want %d", n, tc.attempts)
			}
		})
	}
	t.Run("404 is the caller's not found", func(t *testing.T) {
		emu := blockfrostemu.New("proj")
		url, stop, _ := emu.Start("")
		defer stop()
		bf := workers.NewBlockfrost(workers.BlockfrostConfig{URL: url, ProjectID: "proj"}, nil)
		_, err := bf.Asset(context.Background(), "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f00000000")
		if blockfrosterr.Status(err) != 404 {
			t.Fatalf("err %v", err)
		}
	})
}
