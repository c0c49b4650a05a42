package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tbackend/tbackend/stream"
)

// ErrBadFrameID is wrapped by After when the id to resume after is not a stream id.
var ErrBadFrameID = errors.New("storage: malformed frame id")

// frameField is the one field of each stream entry.
const frameField = "d"

// framesAppend adds frames to a job's stream and announces them, in one script: a subscriber can
// never hear of a frame that the stream does not hold yet, and the order of the announcements is
// the order of the stream. PUBLISH names a channel, not a key, so the script stays Cluster-safe.
// One frame is announced as "<id>\n<data>"; several as one message (ParseLiveBatch), so that a
// burst takes one place in a subscriber's queue, not one per frame.
//
// KEYS[1] the job's stream; ARGV[1] the job's channel; ARGV[2] approximate maximum length (0:
// none); ARGV[3] time to live in ms (0: none); ARGV[4..] the frames' data. Returns the new
// entries' ids.
var framesAppend = redis.NewScript(`
local maxlen = tonumber(ARGV[2])
local ids = {}
for i = 4, #ARGV do
  if maxlen > 0 then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', '` + frameField + `', ARGV[i])
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', '` + frameField + `', ARGV[i])
  end
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if #ids == 1 then
  redis.call('PUBLISH', ARGV[1], ids[1] .. '\n' .. ARGV[4])
else
  local head = {}
  for i = 4, #ARGV do
    head[#head + 1] = ids[i - 3] .. ':' .. #ARGV[i]
  end
  redis.call('PUBLISH', ARGV[1], table.concat(head, ',') .. '\n' .. table.concat(ARGV, '', 4))
end
return ids
`)

// framesAppendFinal appends a final frame unless the stream already ends with one, numbering it
// after the last frame: whoever notices first that a job cannot finish its stream (its worker
// died) closes it, once, and every relay and later resume sees the same end.
//
// KEYS[1] the job's stream; ARGV[1] the job's channel; ARGV[2] frame data holding "seq":0, as
// its first seq; ARGV[3] time to live in ms (0: none); ARGV[4..] the types of final frames.
// Returns the id of the stream's final frame.
var framesAppendFinal = redis.NewScript(`
local seq = 1
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local fields = last[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == '` + frameField + `' then
      local ok, f = pcall(cjson.decode, fields[i + 1])
      if ok and type(f) == 'table' then
        for j = 4, #ARGV do
          if f['type'] == ARGV[j] then return last[1][1] end
        end
        if tonumber(f['seq']) then seq = tonumber(f['seq']) + 1 end
      end
    end
  end
end
local data = string.gsub(ARGV[2], '"seq":0,', '"seq":' .. seq .. ',', 1)
local id = redis.call('XADD', KEYS[1], '*', '` + frameField + `', data)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
redis.call('PUBLISH', ARGV[1], id .. '\n' .. data)
return id
`)

// Frames relays a job's chat frames from the worker to the api: each frame goes into a short-lived
// per-job Redis Stream (for replay) and out on the job's pub/sub channel (for live delivery).
//
// The relay carries frames as bytes (stream.Frame's Raw) and numbers them with their stream entry
// ids (stream.Frame's ID, a stream.ID): it reads a frame's JSON only to end a stream (AppendFinal).
//
// A reader subscribes to Channel first (Hub.Subscribe), then replays with After(lastSeen), then
// takes live messages (ParseLive), skipping those whose id is not above the last one it sent
// (stream.CompareIDs). An empty message from the Hub, or a gap, means live messages were lost: replay
// again with After.
type Frames struct {
	rdb    redis.UniversalClient
	keys   Keys
	ttl    time.Duration
	maxLen int64
}

// NewFrames returns a relay. Each job's stream expires ttl after its last frame (ttl <= 0: never)
// and keeps about its newest maxLen frames (maxLen <= 0: all); "about" because Redis trims whole
// stream nodes, so a stream may hold up to one node (stream-node-max-entries) more.
func NewFrames(rdb redis.UniversalClient, keys Keys, ttl time.Duration, maxLen int64) *Frames {
	return &Frames{rdb: rdb, keys: keys, ttl: ttl, maxLen: maxLen}
}

// Channel is the pub/sub channel of jobID's live frames.
func (f *Frames) Channel(jobID string) string { return f.keys.StreamChannel(jobID) }

// Append stores data as jobID's next frame, refreshes the stream's time to live and publishes
// "<id>\n<data>" on Channel(jobID), atomically. It returns the frame's id.
func (f *Frames) Append(ctx context.Context, jobID string, data []byte) (string, error) {
	ids, err := f.AppendBatch(ctx, jobID, [][]byte{data})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// AppendBatch is Append for several frames, in order, in one round trip. It returns their ids.
func (f *Frames) AppendBatch(ctx context.Context, jobID string, data [][]byte) ([]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 3+len(data))
	args = append(args, f.Channel(jobID), max(f.maxLen, 0), Millis(f.ttl))
	for _, d := range data {
		args = append(args, d)
	}
	ids, err := framesAppend.Run(ctx, f.rdb, []string{f.keys.StreamFrames(jobID)}, args...).StringSlice()
	if err == nil && len(ids) != len(data) {
		err = fmt.Errorf("%d ids for %d frames", len(ids), len(data))
	}
	if err != nil {
		return nil, fmt.Errorf("storage: append frame: %w", err)
	}
	return ids, nil
}

// AppendFinal appends f as jobID's final frame unless the stream's last frame already is one
// (stream.FinalTypes), numbering it after the last frame (f.Seq is ignored). It returns the id of
// the stream's final frame.
func (f *Frames) AppendFinal(ctx context.Context, jobID string, fr stream.Frame) (string, error) {
	fr.Seq = 0 // the script's placeholder: "seq":0 becomes the number after the last frame's
	data, err := json.Marshal(fr)
	if err != nil {
		return "", fmt.Errorf("storage: append final frame: %w", err)
	}
	args := []any{f.Channel(jobID), data, Millis(f.ttl)}
	for _, t := range stream.FinalTypes() {
		args = append(args, t)
	}
	id, err := framesAppendFinal.Run(ctx, f.rdb, []string{f.keys.StreamFrames(jobID)}, args...).Text()
	if err != nil {
		return "", fmt.Errorf("storage: append final frame: %w", err)
	}
	return id, nil
}

// After returns jobID's frames whose ids follow afterID ("" or "0": all of them), oldest first, at
// most limit of them (limit <= 0: no limit). A job without frames, or whose stream expired, gives
// an empty result, not an error. A malformed afterID (say, a client's Last-Event-ID) gives an error
// wrapping ErrBadFrameID before Redis is asked.
func (f *Frames) After(ctx context.Context, jobID, afterID string, limit int64) ([]stream.Frame, error) {
	start := "-"
	if afterID != "" {
		id, _, ok := stream.ParseID(afterID)
		if !ok {
			return nil, fmt.Errorf("storage: frames after %.64q: %w", afterID, ErrBadFrameID)
		}
		next, ok := id.Next()
		if !ok {
			return []stream.Frame{}, nil // nothing follows the largest id
		}
		start = next.String()
	}
	key := f.keys.StreamFrames(jobID)
	var (
		msgs []redis.XMessage
		err  error
	)
	if limit > 0 {
		msgs, err = f.rdb.XRangeN(ctx, key, start, "+", limit).Result()
	} else {
		msgs, err = f.rdb.XRange(ctx, key, start, "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read frames: %w", err)
	}
	out := make([]stream.Frame, 0, len(msgs))
	for _, m := range msgs {
		data, ok := m.Values[frameField].(string)
		if !ok {
			return nil, fmt.Errorf("storage: read frames: entry %s has no %q field", m.ID, frameField)
		}
		out = append(out, stream.Frame{ID: m.ID, Raw: []byte(data)})
	}
	return out, nil
}

// Last returns jobID's newest frame; ok is false when the stream holds none.
func (f *Frames) Last(ctx context.Context, jobID string) (fr stream.Frame, ok bool, err error) {
	msgs, err := f.rdb.XRevRangeN(ctx, f.keys.StreamFrames(jobID), "+", "-", 1).Result()
	if err != nil {
		return stream.Frame{}, false, fmt.Errorf("storage: read last frame: %w", err)
	}
	if len(msgs) == 0 {
		return stream.Frame{}, false, nil
	}
	data, _ := msgs[0].Values[frameField].(string)
	return stream.Frame{ID: msgs[0].ID, Raw: []byte(data)}, true, nil
}

// Exists tells whether jobID's stream holds frames (it has not expired, and the job has started
// streaming).
func (f *Frames) Exists(ctx context.Context, jobID string) (bool, error) {
	n, err := f.rdb.Exists(ctx, f.keys.StreamFrames(jobID)).Result()
	if err != nil {
		return false, fmt.Errorf("storage: frames exist: %w", err)
	}
	return n > 0, nil
}

// ParseLive decodes a pub/sub message of one frame (Append, AppendFinal). It reports false for
// anything else, including the empty message by which a Hub says that live messages may have been
// lost. Raw shares msg's memory.
func ParseLive(msg []byte) (stream.Frame, bool) {
	id, data, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok {
		return stream.Frame{}, false
	}
	if _, full, ok := stream.ParseID(string(id)); !ok || !full {
		return stream.Frame{}, false
	}
	return stream.Frame{ID: string(id), Raw: data}, true
}

// ParseLiveBatch decodes any pub/sub message of the relay: one frame (ParseLive), or the frames
// of one AppendBatch, "<id>:<length>,<id>:<length>…\n" followed by their data back to back. It
// reports false for anything else. The frames' Raw share msg's memory.
func ParseLiveBatch(msg []byte) ([]stream.Frame, bool) {
	head, data, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok {
		return nil, false
	}
	if !bytes.ContainsRune(head, ':') {
		f, ok := ParseLive(msg)
		return []stream.Frame{f}, ok
	}
	out := make([]stream.Frame, 0, bytes.Count(head, []byte{','})+1)
	for part := range bytes.SplitSeq(head, []byte{','}) {
		id, size, ok := bytes.Cut(part, []byte{':'})
		n, err := strconv.Atoi(string(size))
		if _, full, idOK := stream.ParseID(string(id)); !ok || err != nil || n < 0 || n > len(data) || !idOK || !full {
			return nil, false
		}
		out = append(out, stream.Frame{ID: string(id), Raw: data[:n:n]})
		data = data[n:]
	}
	if len(data) != 0 {
		return nil, false
	}
	return out, true
}
