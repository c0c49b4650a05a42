package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// newClient is a keep-alive HTTP/1.1 client for loopback load: up to conns idle connections per
// host, no compression, no proxy.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 2 * time.Minute,
	}}
}

func closeClient(c *http.Client) { c.Transport.(*http.Transport).CloseIdleConnections() }

// call sends one request with the load client and reads the whole answer; a status other than
// want is an error.
func (e *env) call(ctx context.Context, method, url string, body []byte, hdr map[string]string, want int) ([]byte, http.Header, error) {
	return doCall(ctx, e.client, method, url, body, hdr, want)
}

func doCall(ctx context.Context, c *http.Client, method, url string, body []byte, hdr map[string]string, want int) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != want {
		return b, res.Header, fmt.Errorf("%s %s: %d %.300s", method, url, res.StatusCode, b)
	}
	return b, res.Header, nil
}

// keyed is the header set of an authenticated call.
func (e *env) keyed() map[string]string { return map[string]string{"api-key": e.key} }
