// Command healthprobe exits 0 when a URL answers 2xx and 1 otherwise.
//
// The runtime image is scratch: no shell, curl or wget. Docker and Compose
// health checks exec this instead (Kubernetes uses its own httpGet probes).
//
//	healthprobe [url]   (default http://127.0.0.1:8080/health)
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:8080/health"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	if err := probe(url); err != nil {
		fmt.Fprintln(os.Stderr, "healthprobe:", err)
		os.Exit(1)
	}
}

func probe(url string) error {
	// Shorter than any sensible health-check timeout, so a hung api is
	// reported as unhealthy rather than as a timed-out check.
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
