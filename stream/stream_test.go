package stream_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/tbackend/tbackend/stream"
)

const jobID = "JOBID0000000000000000000000000001"

func ptr[T any](v T) *T { return &v }

// The worker writes frames, the api forwards their bytes and clients parse them: the golden files
// pin the JSON (the compact form travels; the files are indented for review).
func TestFrameGolden(t *testing.T) {
	cases := map[string]stream.Frame{
		"frame_content.json":   {Type: stream.TypeContent, JobID: jobID, Seq: 1, Text: "Hel"},
		"frame_reasoning.json": {Type: stream.TypeReasoning, JobID: jobID, Seq: 2, Text: "thinking"},
		"frame_done.json": {Type: stream.TypeDone, JobID: jobID, Seq: 3, Reply: ptr("Hello <b>&</b>"),
			ReplyJSON: json.RawMessage(`{"a":1}`), Usage: &stream.Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13},
			SessionID: ptr("sess_abc")},
		"frame_error.json": {Type: stream.TypeError, JobID: jobID, Seq: 4, Code: "worker_lost",
			Message: "the worker running this job stopped; send the request again"},
		// ID and Raw are the relay's, never part of the frame's JSON.
	}
	for file, f := range cases {
		t.Run(file, func(t *testing.T) {
			golden, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			f.ID, f.Raw = "1700000000000-0", []byte(`{"type":"ignored"}`)
			got, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, golden); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("wire format changed:\n got %s\nwant %s", got, want.Bytes())
			}
			var back stream.Frame
			if err := json.Unmarshal(golden, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); !bytes.Equal(again, want.Bytes()) {
				t.Fatalf("golden file does not survive decode+encode:\n got %s\nwant %s", again, want.Bytes())
			}
		})
	}
}

func TestFinal(t *testing.T) {
	for typ, want := range map[string]bool{stream.TypeContent: false, stream.TypeReasoning: false,
		stream.TypeDone: true, stream.TypeError: true, "": false, "other": false} {
		if got := (stream.Frame{Type: typ}).Final(); got != want {
			t.Errorf("Frame{Type: %q}.Final() = %v, want %v", typ, got, want)
		}
	}
	for _, typ := range stream.FinalTypes() {
		if !(stream.Frame{Type: typ}).Final() {
			t.Errorf("FinalTypes lists %q, which Final does not count as final", typ)
		}
	}
	if n := len(stream.FinalTypes()); n != 2 {
		t.Errorf("FinalTypes has %d types, want done and error", n)
	}
}

func TestDecodeHead(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want stream.Frame // Type, Seq, Code
		err  bool
	}{
		{name: "content", raw: `{"type":"content","job_id":"j","seq":7,"text":"hi"}`, want: stream.Frame{Type: "content", Seq: 7}},
		{name: "error", raw: `{"type":"error","job_id":"j","seq":9,"code":"timeout","message":"m"}`,
			want: stream.Frame{Type: "error", Seq: 9, Code: "timeout"}},
		{name: "no seq", raw: `{"type":"done"}`, want: stream.Frame{Type: "done"}},
		{name: "not JSON", raw: `hello`, err: true},
		{name: "not an object", raw: `[1]`, err: true},
		{name: "seq of the wrong type", raw: `{"type":"content","seq":"7"}`, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := stream.Frame{ID: "1-0", Raw: []byte(c.raw)}
			err := f.DecodeHead()
			if (err != nil) != c.err {
				t.Fatalf("DecodeHead(%s) error = %v, want error %v", c.raw, err, c.err)
			}
			if c.err {
				return
			}
			if f.Type != c.want.Type || f.Seq != c.want.Seq || f.Code != c.want.Code {
				t.Fatalf("DecodeHead(%s) = type %q seq %d code %q, want %q %d %q", c.raw, f.Type, f.Seq, f.Code,
					c.want.Type, c.want.Seq, c.want.Code)
			}
			// The rest is forwarded as bytes, not decoded.
			if f.JobID != "" || f.Text != "" || f.Message != "" || f.ID != "1-0" || string(f.Raw) != c.raw {
				t.Fatalf("DecodeHead touched more than the head: %+v", f)
			}
		})
	}
}
