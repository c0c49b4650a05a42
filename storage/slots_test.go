package storage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbackend/tbackend/storage"
)

// TestSlotsAtomic: 50 concurrent claims on 5 slots admit exactly 5 (topology_test.go does it
// across two clients too).
func TestSlotsAtomic(t *testing.T) {
	rl, _ := newLimiter(t)
	ctx := context.Background()
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := rl.AcquireSlot(ctx, storage.SlotJobs, "key:a", fmt.Sprintf("job-%d", i), 5, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				admitted.Add(1)
			} else if d.Lapse <= 0 || d.Lapse > time.Minute || d.Held != 5 {
				t.Errorf("refusal %+v: want 5 held and a lapse within the ttl", d)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("%d of 50 concurrent claims admitted, want 5", n)
	}
	held, err := rl.SlotHolders(ctx, storage.SlotJobs, "key:a")
	if err != nil || len(held) != 5 {
		t.Fatalf("holders %v %v, want 5", held, err)
	}
	// A holder claiming again keeps its slot; another owner and the other kind are unaffected.
	if d, err := rl.AcquireSlot(ctx, storage.SlotJobs, "key:a", held[0], 5, time.Minute); err != nil || !d.Allowed || d.Held != 5 {
		t.Fatalf("re-claim by a holder: %+v %v", d, err)
	}
	if d, err := rl.AcquireSlot(ctx, storage.SlotJobs, "key:b", "job-x", 5, time.Minute); err != nil || !d.Allowed || d.Held != 1 {
		t.Fatalf("another owner: %+v %v", d, err)
	}
	if d, err := rl.AcquireSlot(ctx, storage.SlotStreams, "key:a", "s-1", 1, time.Minute); err != nil || !d.Allowed {
		t.Fatalf("another kind: %+v %v", d, err)
	}
	// A release frees exactly one slot.
	if err := rl.ReleaseSlot(ctx, storage.SlotJobs, "key:a", held[1]); err != nil {
		t.Fatal(err)
	}
	if d, _ := rl.AcquireSlot(ctx, storage.SlotJobs, "key:a", "job-new", 5, time.Minute); !d.Allowed {
		t.Fatalf("claim after a release: %+v", d)
	}
	if d, _ := rl.AcquireSlot(ctx, storage.SlotJobs, "key:a", "job-newer", 5, time.Minute); d.Allowed {
		t.Fatalf("a 6th claim: %+v, want refused", d)
	}
}

// TestSlotsLapse: a slot whose holder never releases it (a crashed api) stops counting at its
// deadline, and the set itself expires.
func TestSlotsLapse(t *testing.T) {
	rl, rdb := newLimiter(t)
	ctx := context.Background()
	for i := range 2 {
		if d, err := rl.AcquireSlot(ctx, storage.SlotStreams, "key:c", fmt.Sprint("leaked-", i), 2, 300*time.Millisecond); err != nil || !d.Allowed {
			t.Fatalf("claim %d: %+v %v", i, d, err)
		}
	}
	d, err := rl.AcquireSlot(ctx, storage.SlotStreams, "key:c", "fresh", 2, time.Minute)
	if err != nil || d.Allowed || d.Lapse > 300*time.Millisecond {
		t.Fatalf("claim while full: %+v %v, want refused with the lapse ahead", d, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err = rl.AcquireSlot(ctx, storage.SlotStreams, "key:c", "fresh", 2, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaked slots never lapsed: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Held != 1 {
		t.Fatalf("after the lapse %d slots held, want 1 (the leaked ones gone)", d.Held)
	}
	for time.Now().Before(deadline) {
		if n := rdb.DBSize(ctx).Val(); n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the slot set outlived its last member")
}
