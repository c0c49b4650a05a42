package control_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/emulators/internal/control"
)

type fault struct {
	name         string
	after, times int
	onlyEndpoint string
}

func (f fault) Window() (int, int) { return f.after, f.times }

// picks runs n requests to endpoint ep through r and returns the fault names they got ("-": none).
func picks(r *control.Rules[fault], ep string, n int) string {
	var got []string
	for range n {
		f, ok := r.Pick(func(f fault) bool { return f.onlyEndpoint == "" || f.onlyEndpoint == ep })
		if !ok {
			got = append(got, "-")
			continue
		}
		got = append(got, f.name)
	}
	return strings.Join(got, " ")
}

func TestRulesApplyInTheirWindowThenDrop(t *testing.T) {
	var r control.Rules[fault]
	r.Set(fault{name: "a", after: 2, times: 2}, fault{name: "b", times: 1}, fault{name: "c"})
	// Requests 1-2 pass a by (counted) and fall to b (once), then c; 3-4 get a; then a and b are spent.
	if got, want := picks(&r, "x", 6), "b c a a c c"; got != want {
		t.Fatalf("picks %q, want %q", got, want)
	}
	r.Clear()
	if got := picks(&r, "x", 2); got != "- -" {
		t.Fatalf("after Clear: %q", got)
	}
}

func TestRulesSkipRulesThatDoNotMatch(t *testing.T) {
	var r control.Rules[fault]
	r.Add(fault{name: "only-y", onlyEndpoint: "y", times: 1})
	r.Add(fault{name: "all", times: 1})
	if got := picks(&r, "x", 2); got != "all -" {
		t.Fatalf("endpoint x: %q", got)
	}
	if got := picks(&r, "y", 2); got != "only-y -" {
		t.Fatalf("endpoint y: %q (a non-matching request must not use up a rule)", got)
	}
}

func TestTakeHeaderCountsPerValue(t *testing.T) {
	var r control.Rules[fault]
	f := fault{after: 1, times: 2}
	var got []bool
	for range 5 {
		got = append(got, r.TakeHeader("spec-1", f))
	}
	if want := []bool{false, true, true, false, false}; !equal(got, want) {
		t.Fatalf("spec-1 window %v, want %v", got, want)
	}
	if !r.TakeHeader("spec-2", fault{}) {
		t.Fatal("a header value without a window applies every time")
	}
	r.Clear()
	if r.TakeHeader("spec-1", f) {
		t.Fatal("Clear must forget header windows")
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSpec(t *testing.T) {
	var kinds []string
	params := map[string]string{}
	err := control.ParseSpec(" stall ; after = 3;;delay=1s ", func(k string) error {
		kinds = append(kinds, k)
		return nil
	}, func(k, v string) error {
		params[k] = v
		return nil
	})
	if err != nil || strings.Join(kinds, ",") != "stall" || !maps.Equal(params, map[string]string{"after": "3", "delay": "1s"}) {
		t.Fatalf("kinds %v params %v err %v", kinds, params, err)
	}
	bad := errors.New("bad")
	if err := control.ParseSpec("a;b", func(string) error { return bad }, nil); !errors.Is(err, bad) {
		t.Fatalf("callback error not returned: %v", err)
	}
}

func TestServeUntilStop(t *testing.T) {
	base, stop, err := control.Serve("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base URL %q is not on loopback", base)
	}
	res, err := http.Get(base + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "/ping" {
		t.Errorf("served %q, want /ping", body)
	}
	stop()
	if res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(base + "/ping"); err == nil {
		res.Body.Close()
		t.Error("still served after stop")
	}
}

func TestParseIntoAFault(t *testing.T) {
	kind := func(f *fault, k string) error {
		if k == "bad" {
			return errors.New("unknown kind")
		}
		f.name = k
		return nil
	}
	param := func(f *fault, k, v string) error { f.onlyEndpoint = k + "=" + v; return nil }
	f, err := control.Parse("drop; endpoint=/x", kind, param)
	if err != nil || f != (fault{name: "drop", onlyEndpoint: "endpoint=/x"}) {
		t.Fatalf("Parse = %+v, %v", f, err)
	}
	if f, err := control.Parse("drop;bad", kind, param); err == nil || f != (fault{}) {
		t.Fatalf("a bad spec gave %+v, %v; want the zero fault and an error", f, err)
	}
}

type stats struct{ m map[string]int }

func TestCountersSnapshotAndWait(t *testing.T) {
	c := control.NewCounters(stats{m: map[string]int{}}, func(s stats) stats { s.m = maps.Clone(s.m); return s })
	snap := c.Snapshot()
	c.Update(func(s *stats) { s.m["x"]++ })
	if snap.m["x"] != 0 {
		t.Fatal("a snapshot shares its map with the counters")
	}
	if got := control.Read(c, func(s *stats) int { return s.m["x"] }); got != 1 {
		t.Fatalf("Read %d, want 1", got)
	}
	go func() {
		for range 3 {
			c.Update(func(s *stats) { s.m["x"]++ })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitFor(ctx, "test", func(s stats) bool { return s.m["x"] == 4 }); err != nil {
		t.Fatal(err)
	}
	ended, stop := context.WithCancel(context.Background())
	stop()
	err := c.WaitFor(ended, "test", func(stats) bool { return false })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "test: condition not met") {
		t.Fatalf("WaitFor on an ended context: %v", err)
	}
}
