package jobs_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
)

func task(t *testing.T, typ string, payload any) *asynq.Task {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(typ, b)
}

func TestDecode(t *testing.T) {
	chat, err := jobs.Decode[jobs.ChatPayload](task(t, jobs.TypeChat, jobs.ChatPayload{Message: "hi", MaxTokens: 5}))
	if err != nil || chat.Message != "hi" || chat.MaxTokens != 5 {
		t.Fatalf("Decode = %+v, %v", chat, err)
	}
	edit := jobs.ImagePayload{Model: "m", N: 1, Inputs: []jobs.ImageRef{{Key: "k"}}}
	if _, err := jobs.Decode[jobs.ImagePayload](task(t, jobs.TypeImageEdit, edit)); err != nil {
		t.Fatalf("a valid edit: %v", err)
	}
	if _, err := jobs.Decode[jobs.PingPayload](task(t, jobs.TypePing, map[string]any{})); err != nil {
		t.Fatalf("an empty ping: %v", err)
	}
}

// Every handler refuses a bad payload the same way: a permanent bad_request that asynq does not
// retry, without the decoder's words in what the caller sees.
func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name string
		task *asynq.Task
		run  func(*asynq.Task) error
	}{
		{"not JSON", asynq.NewTask(jobs.TypeChat, []byte("{")), decodeAs[jobs.ChatPayload]},
		{"not an object", asynq.NewTask(jobs.TypePing, []byte(`"x"`)), decodeAs[jobs.PingPayload]},
		{"field of the wrong type", asynq.NewTask(jobs.TypeChat, []byte(`{"message":5}`)), decodeAs[jobs.ChatPayload]},
		{"chat without a message", task(t, jobs.TypeChat, jobs.ChatPayload{MaxTokens: 5}), decodeAs[jobs.ChatPayload]},
		{"retention without an age", task(t, jobs.TypeObjectRetention, jobs.RetentionPayload{Prefix: "p/"}), decodeAs[jobs.RetentionPayload]},
		{"analysis without a network", task(t, jobs.TypeTokenAnalysis, jobs.TokenAnalysisPayload{Token: "HERD"}), decodeAs[jobs.TokenAnalysisPayload]},
		{"payment without an invoice", task(t, jobs.TypePaymentConfirm, jobs.PaymentPayload{}), decodeAs[jobs.PaymentPayload]},
		{"image without a model", task(t, jobs.TypeImageGenerate, jobs.ImagePayload{N: 1}), decodeAs[jobs.ImagePayload]},
		{"image of no images", task(t, jobs.TypeImageGenerate, jobs.ImagePayload{Model: "m"}), decodeAs[jobs.ImagePayload]},
		{"edit without inputs", task(t, jobs.TypeImageEdit, jobs.ImagePayload{Model: "m", N: 1}), decodeAs[jobs.ImagePayload]},
		{"image payload of another type", task(t, jobs.TypeChat, jobs.ImagePayload{Model: "m", N: 1}), decodeAs[jobs.ImagePayload]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(c.task)
			var je *jobs.Error
			if !errors.As(err, &je) || !je.Permanent || je.Code != jobs.CodeBadRequest || je.Status != 400 {
				t.Fatalf("err = %v, want a permanent bad_request", err)
			}
			if je.Message != "malformed "+c.task.Type()+" payload" {
				t.Fatalf("message %q", je.Message)
			}
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("err = %v: asynq would retry it", err)
			}
			if got := jobs.AsError(err); got != je {
				t.Fatalf("AsError = %+v, want the decode's *Error", got)
			}
			if body, _ := json.Marshal(je); strings.Contains(string(body), "invalid") || strings.Contains(string(body), "unmarshal") {
				t.Fatalf("the decoder's words reach the caller: %s", body)
			}
		})
	}
}

func decodeAs[P jobs.Payload](t *asynq.Task) error {
	_, err := jobs.Decode[P](t)
	return err
}

// The typed constructors pair each task type with its own payload, and queue and policy come
// from the type: a caller never names a queue.
func TestJobConstructors(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pay := jobs.PaymentPayload{InvoiceID: "inv_1", Proof: jobs.PaymentProof{Kind: jobs.ProofTxHash, Value: "ab"}}
	cases := []struct {
		spec jobs.Spec
		typ  string
		id   string
	}{
		{jobs.PingJob(jobs.PingPayload{DelayMS: 1}), jobs.TypePing, ""},
		{jobs.RetentionJob(jobs.RetentionPayload{MaxAgeSeconds: 1}), jobs.TypeObjectRetention, ""},
		{jobs.ChatJob(jobs.ChatPayload{Message: "hi"}), jobs.TypeChat, ""},
		{jobs.TokenAnalysisJob(jobs.TokenAnalysisPayload{Token: "t"}), jobs.TypeTokenAnalysis, ""},
		{jobs.PaymentJob(pay, now), jobs.TypePaymentConfirm, jobs.PaymentTaskID("inv_1", "ab", now)},
		{jobs.ImageJob(jobs.TypeImageVariation, jobs.ImagePayload{Model: "m"}), jobs.TypeImageVariation, ""},
	}
	for _, c := range cases {
		if c.spec.Type != c.typ || c.spec.ID != c.id || c.spec.Payload == nil || c.spec.Streamed {
			t.Errorf("%s: spec %+v", c.typ, c.spec)
		}
		if _, err := jobs.PolicyFor(c.spec.Type); err != nil {
			t.Errorf("%s: %v", c.typ, err)
		}
	}
	if !jobs.ChatJob(jobs.ChatPayload{Message: "hi", Stream: true}).Streamed {
		t.Errorf("a streamed chat would be re-run")
	}
}

func TestInfoOf(t *testing.T) {
	for _, typ := range jobs.Types() {
		pol, _ := jobs.PolicyFor(typ)
		info, err := jobs.InfoOf(typ, "J1")
		if err != nil || info != (jobs.Info{ID: "J1", Queue: pol.Queue, Type: typ}) {
			t.Errorf("InfoOf(%s) = %+v, %v; want queue %s", typ, info, err, pol.Queue)
		}
	}
	if _, err := jobs.InfoOf("system:nope", "J1"); err == nil {
		t.Errorf("InfoOf of an unknown type: no error")
	}
}
