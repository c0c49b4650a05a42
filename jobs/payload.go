package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Payload is a task payload that knows when it is well formed. The api validates every request
// before it enqueues a job, so a payload that fails Valid was damaged or written by a mismatched
// release: its job fails for good.
type Payload interface {
	// Valid tells whether the payload can run as a job of taskType.
	Valid(taskType string) bool
}

// Decode reads a task's payload as a P. A payload that does not decode, or is not Valid for the
// task's type, gives the same error for every handler: a permanent *Error (bad_request, 400) that
// also wraps asynq.SkipRetry, so asynq archives the task rather than run it again, whoever runs
// the handler. The decoding error itself stays in the error's text (for the logs), never in the
// *Error callers see.
func Decode[P Payload](t *asynq.Task) (P, error) {
	var p P
	err := json.Unmarshal(t.Payload(), &p)
	if err == nil && p.Valid(t.Type()) {
		return p, nil
	}
	je := Permanent(CodeBadRequest, "malformed "+t.Type()+" payload", 400)
	var zero P
	if err != nil {
		return zero, fmt.Errorf("%w: %w: %v", je, asynq.SkipRetry, err)
	}
	return zero, fmt.Errorf("%w: %w", je, asynq.SkipRetry)
}

// Valid: a ping needs nothing.
func (PingPayload) Valid(string) bool { return true }

// Valid: a sweep without an age would delete everything.
func (p RetentionPayload) Valid(string) bool { return p.MaxAgeSeconds > 0 }

// Valid: a chat turn has a message.
func (p ChatPayload) Valid(string) bool { return p.Message != "" }

// Valid: an analysis names its token and network.
func (p TokenAnalysisPayload) Valid(string) bool { return p.Token != "" && p.Network != "" }

// Valid: a payment check names its invoice.
func (p PaymentPayload) Valid(string) bool { return p.InvoiceID != "" }

// Valid: an image job names its model and count; edits and variations have inputs.
func (p ImagePayload) Valid(taskType string) bool {
	return IsImageType(taskType) && p.Model != "" && p.N >= 1 && (taskType == TypeImageGenerate || len(p.Inputs) > 0)
}

// Typed job constructors: a task type always travels with its own payload type, and the caller
// adds only who asks (RequestID, Owner) and, where it needs one before enqueueing, the ID.

// PingJob is a queue round trip.
func PingJob(p PingPayload) Spec { return Spec{Type: TypePing, Payload: p} }

// RetentionJob is a sweep of stored objects.
func RetentionJob(p RetentionPayload) Spec { return Spec{Type: TypeObjectRetention, Payload: p} }

// ChatJob is one chat turn; a streamed turn is never re-run (Spec.Streamed).
func ChatJob(p ChatPayload) Spec { return Spec{Type: TypeChat, Payload: p, Streamed: p.Stream} }

// TokenAnalysisJob is one token analysis. Its ID is left to the caller: concurrent identical
// requests share TokenAnalysisJobID(p); an async caller gets a job of its own.
func TokenAnalysisJob(p TokenAnalysisPayload) Spec { return Spec{Type: TypeTokenAnalysis, Payload: p} }

// PaymentJob checks one proof for one invoice. Its ID collapses identical checks within now's
// window (PaymentTaskID).
func PaymentJob(p PaymentPayload, now time.Time) Spec {
	return Spec{Type: TypePaymentConfirm, Payload: p, ID: PaymentTaskID(p.InvoiceID, p.Proof.Value, now)}
}

// ImageJob is one image operation; taskType is one of the image types (IsImageType).
func ImageJob(taskType string, p ImagePayload) Spec { return Spec{Type: taskType, Payload: p} }

// InfoOf identifies an existing job of taskType by its id (say, one that a replayed request
// started): its queue is the type's, as Enqueue put it there.
func InfoOf(taskType, id string) (Info, error) {
	pol, err := PolicyFor(taskType)
	if err != nil {
		return Info{}, err
	}
	return Info{ID: id, Queue: pol.Queue, Type: taskType}, nil
}
