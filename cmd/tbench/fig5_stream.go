package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// measureStreaming is figure 5: a streamed POST /chat (client → api → queue → worker → emulator
// → Redis → api → client) against the same completion read straight from the emulator: time to
// the first content event and the gap between content events; then the api's memory and Redis
// connections with many idle streams open (fig5_idle.go).
func measureStreaming(ctx context.Context, e *env, sz sizes) ([]row, error) {
	c := newClient(8)
	defer closeClient(c)
	const msg = "How long until the first token arrives?"
	for range 3 { // warm-up: connections, pools, the worker's upstream connection
		if _, err := timeStream(ctx, c, e.chatRequest(ctx, msg), apiContent); err != nil {
			return nil, fmt.Errorf("warm-up via the api: %w", err)
		}
		if _, err := timeStream(ctx, c, e.directRequest(ctx, msg), directContent); err != nil {
			return nil, fmt.Errorf("warm-up direct: %w", err)
		}
	}
	var apiT, dirT result
	err := pairs(ctx, sz.ttfb, time.Minute, func(api bool) error {
		req, into, isContent := e.directRequest(ctx, msg), &dirT, directContent
		if api {
			req, into, isContent = e.chatRequest(ctx, msg), &apiT, apiContent
		}
		st, err := timeStream(ctx, c, req, isContent)
		into.lat = append(into.lat, st.first)
		return err
	})
	if err != nil {
		return nil, err
	}
	apiT, dirT = merge(apiT), merge(dirT)

	words := make([]string, sz.frameWords)
	for i := range words {
		words[i] = []string{"lorem", "ipsum", "dolor", "sit", "amet"}[i%5]
	}
	long := strings.Join(words, " ")
	var span [2]time.Duration
	var gaps [2]int
	err = pairs(ctx, sz.frames, time.Minute, func(api bool) error {
		req, i, isContent := e.directRequest(ctx, long), 1, directContent
		if api {
			req, i, isContent = e.chatRequest(ctx, long), 0, apiContent
		}
		st, err := timeStream(ctx, c, req, isContent)
		span[i] += st.last - st.first
		gaps[i] += st.contents - 1
		return err
	})
	if err != nil {
		return nil, err
	}
	perFrame := func(i int) float64 { return float64(span[i]) / float64(time.Microsecond) / float64(max(gaps[i], 1)) }
	rows := []row{
		versus("time to first byte p50", "ms", ms(apiT.p(.5)), ms(dirT.p(.5)), fmt.Sprintf("%d streams per side, interleaved", len(apiT.lat))).want(targetAddedMax, 10),
		versus("time to first byte p99", "ms", ms(apiT.p(.99)), ms(dirT.p(.99)), ""),
		versus("per-frame latency (mean gap)", "µs", perFrame(0), perFrame(1),
			fmt.Sprintf("%d streams of %d frames per side", sz.frames, gaps[0]/max(sz.frames, 1)+1)).want(targetAddedMax, 100),
	}
	idle, err := e.idleStreams(ctx, sz.idleStreams)
	return append(rows, idle...), err
}

// pairs runs one(true) and one(false) n times each, alternating which goes first, within d.
func pairs(ctx context.Context, n int, d time.Duration, one func(api bool) error) error {
	deadline := time.Now().Add(d)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		for k := range 2 {
			if err := one((i+k)%2 == 0); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// chatRequest is a streamed POST /chat.
func (e *env) chatRequest(ctx context.Context, message string) *http.Request {
	body, _ := json.Marshal(map[string]any{"stream": true, "message": message})
	req, _ := http.NewRequestWithContext(ctx, "POST", e.apiURL+"/chat", bytes.NewReader(body))
	req.Header.Set("api-key", e.key)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// directRequest is the streamed completion the worker asks the upstream for, sent straight to
// the emulator.
func (e *env) directRequest(ctx context.Context, message string) *http.Request {
	body, _ := json.Marshal(map[string]any{
		"model":          "gpt-4o-mini",
		"messages":       []map[string]string{{"role": "user", "content": message}},
		"max_tokens":     2048,
		"stream":         true,
		"stream_options": map[string]bool{"include_usage": true},
	})
	req, _ := http.NewRequestWithContext(ctx, "POST", e.openaiURL+"/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+openaiKey)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// apiContent tells the api's content events.
func apiContent(line []byte) bool {
	return bytes.HasPrefix(line, []byte("data: {")) && bytes.Contains(line, []byte(`"type":"content"`))
}

// directContent tells upstream chunks that carry text (not the role, finish or usage chunks).
func directContent(line []byte) bool {
	const marker = `"delta":{"content":"`
	i := bytes.Index(line, []byte(marker))
	return bytes.HasPrefix(line, []byte("data: {")) && i >= 0 && i+len(marker) < len(line) && line[i+len(marker)] != '"'
}

// streamTiming is what one streamed request measured since just before it was sent.
type streamTiming struct {
	first, last time.Duration // first and last content event
	contents    int
}

// timeStream sends req, reads the event stream to its end and times its content events.
func timeStream(ctx context.Context, c *http.Client, req *http.Request, isContent func([]byte) bool) (streamTiming, error) {
	var st streamTiming
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req = req.WithContext(ctx)
	t0 := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return st, fmt.Errorf("%s %s: %d %.300s", req.Method, req.URL, res.StatusCode, b)
	}
	rd := bufio.NewReaderSize(res.Body, 64<<10)
	done := false
	for {
		line, err := rd.ReadSlice('\n')
		if isContent(line) {
			at := time.Since(t0)
			if st.contents == 0 {
				st.first = at
			}
			st.last = at
			st.contents++
		}
		switch {
		case bytes.HasPrefix(line, []byte("data: [DONE]")):
			done = true
		case bytes.HasPrefix(line, []byte("data: {")) && bytes.Contains(line, []byte(`"type":"error"`)):
			return st, fmt.Errorf("error frame: %s", line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read stream: %w", err)
		}
	}
	if !done || st.contents == 0 {
		return st, fmt.Errorf("stream of %s ended without [DONE] or content (%d content events)", req.URL, st.contents)
	}
	return st, nil
}
