package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/jobs"
)

// The api and the workers are deployed separately, so the JSON they exchange is a wire format:
// these golden files pin it. Run `go test ./jobs -run Golden -update` after a deliberate change,
// and review the diff of testdata/.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	started   = time.Date(2025, 3, 15, 10, 20, 30, 123456789, time.UTC)
	created   = time.Date(2025, 3, 15, 10, 20, 30, 100_000_000, time.UTC)
	completed = time.Date(2025, 3, 15, 10, 20, 31, 0, time.UTC)
)

func ptr[T any](v T) *T { return &v }

func pingResult() jobs.PingResult {
	return jobs.PingResult{Worker: "worker-1", StartedAt: started, DelayMS: 250}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip decodes golden into a fresh T and encodes it again: what one side writes, the other
// reads back without loss.
func roundTrip[T any](golden []byte) ([]byte, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(golden))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file   string
		value  func(t *testing.T) any
		decode func([]byte) ([]byte, error)
	}{
		{
			file: "outcome_ok.json",
			value: func(t *testing.T) any {
				return jobs.Outcome{JobID: "JOBIDOK0000000000000000000000001", OK: true, Result: mustJSON(t, pingResult()),
					FinishedAt: time.Date(2026, 11, 30, 12, 0, 1, 500000000, time.UTC)}
			},
			decode: roundTrip[jobs.Outcome],
		},
		{
			file: "outcome_failed.json",
			value: func(*testing.T) any {
				// Permanent is the worker's business: it never goes on the wire.
				return jobs.Outcome{JobID: "JOBIDFAILED000000000000000000002",
					Error: jobs.Permanent(jobs.CodeBadRequest, "malformed ping payload", 400)}
			},
			decode: roundTrip[jobs.Outcome],
		},
		{
			file: "outcome_failed_retry_after.json",
			value: func(*testing.T) any {
				return jobs.Outcome{JobID: "JOBIDRETRY0000000000000000000003", Error: &jobs.Error{
					Code: jobs.CodeUnavailable, Message: "the model is overloaded", Status: 503, RetryAfter: 30}}
			},
			decode: roundTrip[jobs.Outcome],
		},
		{
			file: "outcome_truncated.json",
			value: func(*testing.T) any {
				return jobs.Outcome{JobID: "JOBIDTRUNCATED000000000000000004", OK: true, Truncated: true}
			},
			decode: roundTrip[jobs.Outcome],
		},
		{
			file: "status_succeeded.json",
			value: func(t *testing.T) any {
				return jobs.Status{JobID: "JOBIDOK0000000000000000000000001", Type: jobs.TypePing,
					Status: jobs.StateSucceeded, Result: mustJSON(t, pingResult()),
					CreatedAt: ptr(created), CompletedAt: ptr(completed),
					Owner: "key:key_0123456789abcdef"} // Owner is never shown
			},
			decode: roundTrip[jobs.Status],
		},
		{
			file: "status_failed.json",
			value: func(*testing.T) any {
				return jobs.Status{JobID: "JOBIDFAILED000000000000000000002", Type: jobs.TypePing,
					Status: jobs.StateFailed, Result: json.RawMessage("null"),
					Error:       &jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500},
					CreatedAt:   ptr(time.Date(2025, 3, 15, 10, 20, 30, 0, time.UTC)),
					CompletedAt: ptr(time.Date(2025, 3, 15, 10, 20, 35, 500_000_000, time.UTC)),
					Owner:       "wallet:partner:addr1"}
			},
			decode: roundTrip[jobs.Status],
		},
		{
			file: "status_queued.json",
			value: func(*testing.T) any {
				return jobs.Status{JobID: "JOBIDQUEUED000000000000000000005", Type: jobs.TypePing,
					Status: jobs.StateQueued, Result: json.RawMessage("null"),
					CreatedAt: ptr(time.Date(2025, 3, 15, 10, 20, 30, 0, time.UTC))}
			},
			decode: roundTrip[jobs.Status],
		},
		{
			file:   "ping_payload.json",
			value:  func(*testing.T) any { return jobs.PingPayload{DelayMS: 250} },
			decode: roundTrip[jobs.PingPayload],
		},
		{
			file:   "ping_result.json",
			value:  func(*testing.T) any { return pingResult() },
			decode: roundTrip[jobs.PingResult],
		},
		{
			file:   "retention_payload.json",
			value:  func(*testing.T) any { return jobs.RetentionPayload{Prefix: "images/", MaxAgeSeconds: 7 * 24 * 3600} },
			decode: roundTrip[jobs.RetentionPayload],
		},
		{
			file:   "retention_result.json",
			value:  func(*testing.T) any { return jobs.RetentionResult{Deleted: 42} },
			decode: roundTrip[jobs.RetentionResult],
		},
		{
			file: "token_analysis_payload.json",
			value: func(*testing.T) any {
				return jobs.TokenAnalysisPayload{Token: "SNEK", PolicyID: "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f",
					AssetNameHex: "534e454b", Network: "cardano", APIVersion: "2", Refresh: true}
			},
			decode: roundTrip[jobs.TokenAnalysisPayload],
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) { checkGolden(t, c.file, c.value(t), c.decode) })
	}
}

// checkGolden compares v's encoding with testdata/file (rewriting it with -update), and checks
// that the file survives decode+encode.
func checkGolden(t *testing.T, file string, v any, decode func([]byte) ([]byte, error)) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, golden); err != nil {
		t.Fatalf("golden file is not JSON: %v", err)
	}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("wire format changed:\n got %s\nwant %s", got, want.Bytes())
	}
	back, err := decode(golden)
	if err != nil {
		t.Fatalf("decoding the golden file: %v", err)
	}
	if !bytes.Equal(back, want.Bytes()) {
		t.Fatalf("golden file does not survive decode+encode:\n got %s\nwant %s", back, want.Bytes())
	}
}

func TestGoldenDecodeValues(t *testing.T) {
	// What the api reads out of a worker's outcome is what the worker meant.
	golden, err := os.ReadFile("testdata/outcome_ok.json")
	if err != nil {
		t.Fatal(err)
	}
	var o jobs.Outcome
	if err := json.Unmarshal(golden, &o); err != nil {
		t.Fatal(err)
	}
	var r jobs.PingResult
	if err := o.Decode(&r); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if r != pingResult() {
		t.Fatalf("decoded %+v, want %+v", r, pingResult())
	}

	golden, err = os.ReadFile("testdata/outcome_failed_retry_after.json")
	if err != nil {
		t.Fatal(err)
	}
	o = jobs.Outcome{}
	if err := json.Unmarshal(golden, &o); err != nil {
		t.Fatal(err)
	}
	want := jobs.Error{Code: jobs.CodeUnavailable, Message: "the model is overloaded", Status: 503, RetryAfter: 30}
	if o.OK || o.Error == nil || *o.Error != want {
		t.Fatalf("decoded %+v (error %+v), want failure %+v", o, o.Error, want)
	}
}

func TestOutcomeDecode(t *testing.T) {
	permanent := jobs.Permanent("quota_exceeded", "no more", 429)
	cases := []struct {
		name    string
		o       jobs.Outcome
		wantErr error // matched with errors.Is
		wantJE  *jobs.Error
		want    jobs.PingResult
	}{
		{
			name: "ok",
			o:    jobs.Outcome{JobID: "j", OK: true, Result: json.RawMessage(`{"worker":"w","delay_ms":5}`)},
			want: jobs.PingResult{Worker: "w", DelayMS: 5},
		},
		{
			name:   "failed returns the job error",
			o:      jobs.Outcome{JobID: "j", Error: permanent},
			wantJE: permanent,
		},
		{
			name:    "ok with a malformed result",
			o:       jobs.Outcome{JobID: "j", OK: true, Result: json.RawMessage(`[1,2]`)},
			wantErr: errAny,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r jobs.PingResult
			err := c.o.Decode(&r)
			switch {
			case c.wantJE != nil:
				var je *jobs.Error
				if !errors.As(err, &je) || je != c.wantJE {
					t.Fatalf("err = %v, want the outcome's *jobs.Error %v", err, c.wantJE)
				}
			case c.wantErr != nil:
				if err == nil {
					t.Fatal("no error")
				}
			default:
				if err != nil || r != c.want {
					t.Fatalf("Decode = %+v, %v; want %+v", r, err, c.want)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestAsError(t *testing.T) {
	je := jobs.Permanent(jobs.CodeBadRequest, "bad input", 400)
	cases := []struct {
		name string
		err  error
		want jobs.Error
		same bool // the very same *jobs.Error comes back
	}{
		{"job error", je, *je, true},
		{"wrapped job error", fmt.Errorf("handler: %w", je), *je, true},
		{"plain error", errors.New("dial tcp 10.0.0.7:5432: connection refused; password=hunter2"),
			jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}, false},
		{"wrapped plain error", fmt.Errorf("upstream: %w", errors.New("secret internals")),
			jobs.Error{Code: jobs.CodeInternal, Message: "the job failed", Status: 500}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := jobs.AsError(c.err)
			if got == nil || *got != c.want {
				t.Fatalf("AsError = %+v, want %+v", got, c.want)
			}
			if c.same && got != je {
				t.Fatalf("AsError did not return the wrapped *jobs.Error itself")
			}
			if !c.same {
				body, _ := json.Marshal(got)
				for _, secret := range []string{"hunter2", "10.0.0.7", "secret internals", "dial tcp"} {
					if strings.Contains(string(body), secret) {
						t.Fatalf("internals leak to the caller: %s", body)
					}
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &jobs.Error{Code: "timeout", Message: "the job took too long", Status: 504}
	if got := e.Error(); got != "timeout: the job took too long" {
		t.Fatalf("Error() = %q", got)
	}
	p := jobs.Permanent("x", "y", 418)
	if !p.Permanent || p.Code != "x" || p.Message != "y" || p.Status != 418 {
		t.Fatalf("Permanent = %+v", p)
	}
}

func TestNames(t *testing.T) {
	// Renaming any of these breaks a running deployment (queued tasks, waiting callers).
	cases := [][2]string{
		{jobs.TypePing, "system:ping"},
		{jobs.TypeObjectRetention, "storage:retention"},
		{jobs.QueueCritical, "critical"},
		{jobs.QueueDefault, "default"},
		{jobs.QueueLow, "low"},
		{jobs.HeaderRequestID, "request-id"},
		{jobs.HeaderOwner, "owner"},
		{jobs.HeaderReplyTo, "reply-to"},
		{jobs.HeaderEnqueuedAt, "enqueued-at"},
		{jobs.StateQueued, "queued"},
		{jobs.StateRunning, "running"},
		{jobs.StateSucceeded, "succeeded"},
		{jobs.StateFailed, "failed"},
		{jobs.StateCanceled, "canceled"},
		{jobs.CodeInternal, "internal_error"},
		{jobs.CodeCanceled, "canceled"},
		{jobs.CodeTimeout, "timeout"},
		{jobs.CodeUnavailable, "upstream_unavailable"},
		{jobs.CodeBadRequest, "bad_request"},
	}
	for _, c := range cases {
		if got, want := c[0], c[1]; got != want {
			t.Errorf("constant %q, want %q", got, want)
		}
	}
}

func TestQueues(t *testing.T) {
	q := jobs.Queues()
	if len(q) != 3 {
		t.Fatalf("Queues() = %v, want critical, default, low", q)
	}
	for _, name := range []string{jobs.QueueCritical, jobs.QueueDefault, jobs.QueueLow} {
		if q[name] <= 0 {
			t.Fatalf("queue %q has weight %d, want > 0", name, q[name])
		}
	}
	if !(q[jobs.QueueCritical] > q[jobs.QueueDefault] && q[jobs.QueueDefault] > q[jobs.QueueLow]) {
		t.Fatalf("weights %v: want critical > default > low", q)
	}
	// Callers get their own copy.
	q[jobs.QueueLow] = 100
	if jobs.Queues()[jobs.QueueLow] == 100 {
		t.Fatal("Queues() shares its map with callers")
	}
}

func TestPolicies(t *testing.T) {
	types := jobs.Types()
	if !slices.Contains(types, jobs.TypePing) {
		t.Fatalf("Types() = %v lacks %s", types, jobs.TypePing)
	}
	seen := map[string]bool{}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			if seen[typ] {
				t.Fatalf("type listed twice")
			}
			seen[typ] = true
			p, err := jobs.PolicyFor(typ)
			if err != nil {
				t.Fatalf("PolicyFor: %v", err)
			}
			if _, ok := jobs.Queues()[p.Queue]; !ok {
				t.Errorf("queue %q is not one of Queues()", p.Queue)
			}
			if p.Timeout <= 0 {
				t.Errorf("Timeout = %v, want > 0", p.Timeout)
			}
			if p.Retention <= 0 {
				t.Errorf("Retention = %v, want > 0", p.Retention)
			}
			// Every job type is safe to repeat: one whose worker dies is re-run, not lost.
			if p.MaxRetry < 1 {
				t.Errorf("MaxRetry = %d, want >= 1", p.MaxRetry)
			}
		})
	}
	ping, err := jobs.PolicyFor(jobs.TypePing)
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.Policy{Queue: jobs.QueueDefault, Timeout: 30 * time.Second, MaxRetry: 1, Retention: time.Hour}
	if ping != want {
		t.Errorf("ping policy = %+v, want %+v", ping, want)
	}

	for _, bad := range []string{"", "system:pong", "System:Ping", "system:ping "} {
		if p, err := jobs.PolicyFor(bad); err == nil {
			t.Errorf("PolicyFor(%q) = %+v, want an error", bad, p)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("PolicyFor(%q): error %q does not name the type", bad, err)
		}
	}
}

func TestOutcomeDecodeFailedWithoutError(t *testing.T) {
	o := jobs.Outcome{JobID: "j"} // a failure that carries no error (a malformed or truncated notice)
	var r jobs.PingResult
	err := o.Decode(&r)
	if err == nil {
		t.Fatal("Decode of a failed outcome returned no error")
	}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("err.Error() panics: %v", p)
		}
	}()
	if err.Error() == "" {
		t.Fatal("empty error text")
	}
}
