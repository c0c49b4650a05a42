// Package jobs is the contract between the api and the workers: task type names, queues and their
// policies, payload and result shapes, and the enqueue-and-wait client. The api and the workers are
// deployed separately, so everything here is wire format: change names and JSON tags only on purpose
// (the golden files in testdata/ catch accidental changes).
//
// Callers build jobs with the typed constructors (ChatJob, PaymentJob, …), which pair a task type
// with its payload type; queue and retry policy always come from here (PolicyFor, InfoOf), never
// from a caller. Handlers read payloads with Decode. The frames of a chat stream are package
// stream's, not this one's: storage relays them and imports no package but stream.
package jobs

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Queue names. Payments go first; "low" is for housekeeping.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Queues maps each queue to its weight for the worker's weighted priority.
func Queues() map[string]int {
	return map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}
}

// Task type names.
const (
	// TypePing is a no-op round trip through the queue: operators use it to prove a worker answers,
	// and the benchmark uses it to measure the queue's own overhead.
	TypePing = "system:ping"
	// TypeObjectRetention deletes stored objects older than the retention age (scheduled hourly).
	TypeObjectRetention = "storage:retention"
)

// Task headers. They travel with the task, not in its payload, so every handler gets them the same way.
const (
	HeaderRequestID  = "request-id"  // the X-Request-ID of the HTTP request that enqueued the job
	HeaderOwner      = "owner"       // who may read the job: "key:<id>" or "wallet:<partner>:<address>"
	HeaderReplyTo    = "reply-to"    // pub/sub channel of the api process waiting for the completion notice
	HeaderEnqueuedAt = "enqueued-at" // RFC 3339 time the api enqueued the job
)

// Policy is how one task type is queued and retried.
type Policy struct {
	Queue     string
	Timeout   time.Duration // hard limit of one attempt
	MaxRetry  int           // attempts after the first
	Retention time.Duration // how long the result stays readable after completion
}

// Retention of results: long enough for async callers to come back for them.
const defaultRetention = 24 * time.Hour

// Every job that is safe to repeat has MaxRetry > 0, so that asynq re-runs it when its worker
// dies (its lease recoverer archives a job without attempts left): the work was accepted, so it
// must not be lost. Handlers make a repeat harmless: results are stored under the job's id, and
// uploads stay until the job's last attempt ends. Permanent failures are never retried.
var policies = map[string]Policy{
	TypePing:            {Queue: QueueDefault, Timeout: 30 * time.Second, MaxRetry: 1, Retention: time.Hour},
	TypeObjectRetention: {Queue: QueueLow, Timeout: 10 * time.Minute, MaxRetry: 2, Retention: 24 * time.Hour},
	// Chat retries upstream failures inside the handler, before the first token; asynq re-runs
	// a non-streamed chat whose worker died. A streamed one never (Spec.Streamed): its client
	// already has part of the answer, so it ends with worker_lost and the client retries.
	TypeChat: {Queue: QueueDefault, Timeout: 5 * time.Minute, MaxRetry: 2, Retention: 24 * time.Hour},
	// Token analysis retries Blockfrost inside the handler; a failed analysis is answered at once
	// (503 with Retry-After, a permanent failure) rather than retried behind the caller's back.
	TypeTokenAnalysis: {Queue: QueueDefault, Timeout: 90 * time.Second, MaxRetry: 2, Retention: 24 * time.Hour},
	// Payment checks jump the queue (a caller waits); only chain-data outages fail an attempt, and
	// two quick retries (after 1 s and 2 s) ride out a blip before the caller is told 503.
	TypePaymentConfirm: {Queue: QueueCritical, Timeout: time.Minute, MaxRetry: 2, Retention: time.Hour},
	// Images retry upstream failures inside the handler; uploads stay until the last attempt.
	TypeImageGenerate:  {Queue: QueueDefault, Timeout: 10 * time.Minute, MaxRetry: 2, Retention: 24 * time.Hour},
	TypeImageEdit:      {Queue: QueueDefault, Timeout: 10 * time.Minute, MaxRetry: 2, Retention: 24 * time.Hour},
	TypeImageVariation: {Queue: QueueDefault, Timeout: 10 * time.Minute, MaxRetry: 2, Retention: 24 * time.Hour},
}

// PolicyFor returns the policy of a task type.
func PolicyFor(taskType string) (Policy, error) {
	p, ok := policies[taskType]
	if !ok {
		return Policy{}, fmt.Errorf("jobs: unknown task type %q", taskType)
	}
	if p.Retention == 0 {
		p.Retention = defaultRetention
	}
	return p, nil
}

// Types lists every known task type, sorted (callers that pick one get the same one every time).
func Types() []string { return slices.Sorted(maps.Keys(policies)) }

// PingPayload asks a worker to answer after an optional delay.
type PingPayload struct {
	DelayMS int `json:"delay_ms"`
}

// PingResult is a worker's answer to a ping.
type PingResult struct {
	Worker    string    `json:"worker"`
	StartedAt time.Time `json:"started_at"`
	DelayMS   int       `json:"delay_ms"`
}

// RetentionPayload asks for objects under Prefix older than MaxAgeSeconds to be deleted.
type RetentionPayload struct {
	Prefix        string `json:"prefix"`
	MaxAgeSeconds int64  `json:"max_age_seconds"`
}

// RetentionResult reports a retention sweep.
type RetentionResult struct {
	Deleted int `json:"deleted"`
}

// Marshal encodes a payload as it travels in a task.
func Marshal(payload any) ([]byte, error) { return json.Marshal(payload) }
