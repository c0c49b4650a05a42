package ctxsleep_test

import (
	"context"
	"testing"
	"time"

	"github.com/tbackend/tbackend/internal/ctxsleep"
)

func TestForWaitsTheFullDuration(t *testing.T) {
	start := time.Now()
	if !ctxsleep.For(context.Background(), 5*time.Millisecond) {
		t.Fatal("For on a live context reported an interrupted wait")
	}
	if time.Since(start) < 5*time.Millisecond {
		t.Fatal("For returned before the duration passed")
	}
}

func TestForStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(time.Millisecond); cancel() }()
	if ctxsleep.For(ctx, time.Hour) {
		t.Fatal("For reported a full wait on a canceled context")
	}
}

func TestForWithoutDurationReportsTheContext(t *testing.T) {
	if !ctxsleep.For(context.Background(), 0) {
		t.Error("zero wait on a live context: want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []time.Duration{0, -time.Second} {
		if ctxsleep.For(ctx, d) {
			t.Errorf("wait %v on an ended context: want false", d)
		}
	}
}
