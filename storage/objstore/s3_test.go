package objstore_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tbackend/tbackend/storage/objstore"
)

// s3Env reads the MinIO that CI starts (.ci/minio.sh).
type s3Env struct {
	endpoint, accessKey, secretKey string
	useSSL                         bool
}

func loadS3Env(t *testing.T) s3Env {
	t.Helper()
	e := s3Env{
		endpoint:  requireEnv(t, "S3_ENDPOINT"),
		accessKey: requireEnv(t, "S3_ACCESS_KEY"),
		secretKey: requireEnv(t, "S3_SECRET_KEY"),
	}
	if v := os.Getenv("S3_USE_SSL"); v != "" {
		ssl, err := strconv.ParseBool(v)
		if err != nil {
			t.Fatalf("S3_USE_SSL=%q: %v", v, err)
		}
		e.useSSL = ssl
	}
	return e
}

// newS3 creates a store on a fresh random bucket and force-deletes the bucket
// (objects and unfinished multipart uploads included) when the test ends.
func newS3(t *testing.T, e s3Env, publicBaseURL string) (*objstore.Store, string) {
	t.Helper()
	bucket := "objstore-test-" + randomSuffix(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: e.endpoint, AccessKey: e.accessKey, SecretKey: e.secretKey,
		Bucket: bucket, UseSSL: e.useSSL, PublicBaseURL: publicBaseURL,
	})
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() {
		admin, err := minio.New(e.endpoint, &minio.Options{
			Creds: credentials.NewStaticV4(e.accessKey, e.secretKey, ""), Secure: e.useSSL, Region: "us-east-1",
		})
		if err != nil {
			t.Errorf("cleanup client: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove bucket %s: %v", bucket, err)
		}
	})
	return s, bucket
}

func TestS3(t *testing.T) {
	e := loadS3Env(t)
	s, bucket := newS3(t, e, "")
	// Every replica calls NewS3 at start: an existing bucket must be fine.
	if _, err := objstore.NewS3(t.Context(), objstore.S3Config{
		Endpoint: e.endpoint, AccessKey: e.accessKey, SecretKey: e.secretKey, Bucket: bucket, UseSSL: e.useSSL,
	}); err != nil {
		t.Fatalf("NewS3 on an existing bucket: %v", err)
	}
	conformance(t, harness{s: s, mode: "s3"})
}

// TestS3PublicBaseURL reaches the same MinIO under another host name, as a
// proxy or CDN would: URLs must be signed for that host, and only work there.
func TestS3PublicBaseURL(t *testing.T) {
	e := loadS3Env(t)
	host, port, err := net.SplitHostPort(e.endpoint)
	if err != nil {
		t.Fatalf("S3_ENDPOINT %q: %v", e.endpoint, err)
	}
	alias := "localhost"
	if host == "localhost" {
		alias = "127.0.0.1"
	} else if host != "127.0.0.1" {
		t.Skipf("needs a loopback S3_ENDPOINT to reach it under another name, got %q", host)
	}
	scheme := "http"
	if e.useSSL {
		scheme = "https"
	}
	public := scheme + "://" + net.JoinHostPort(alias, port)
	s, _ := newS3(t, e, public)

	const key = "pub/file.txt"
	mustPut(t, s, key, []byte("public"), "text/plain", "")
	raw, err := s.URL(t.Context(), key, time.Minute, "ignored-for-s3")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != net.JoinHostPort(alias, port) {
		t.Fatalf("URL host = %q, want the public host %q", u.Host, net.JoinHostPort(alias, port))
	}
	resp := httpGet(t, raw, "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || string(body) != "public" {
		t.Fatalf("GET via public host: %s (%s)", resp.Status, body)
	}

	// The signature covers Host: the same URL sent to the internal endpoint
	// is refused, which is why presigning must use the public host.
	u.Host = e.endpoint
	resp = httpGet(t, u.String(), "")
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET via internal host: %s (%s), want 403", resp.Status, body)
	}
}

func TestNewS3Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  objstore.S3Config
	}{
		{"no endpoint", objstore.S3Config{AccessKey: "a", SecretKey: "b", Bucket: "c"}},
		{"no bucket", objstore.S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b"}},
		{"no credentials", objstore.S3Config{Endpoint: "127.0.0.1:1", Bucket: "c"}},
		{"bad scheme", objstore.S3Config{Endpoint: "ftp://127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "c"}},
		{"public base with path", objstore.S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "c",
			PublicBaseURL: "https://files.example.com/prefix"}},
		{"relative public base", objstore.S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "c",
			PublicBaseURL: "files.example.com"}},
		// Port 1 refuses connections: configuration is fine, the bucket
		// check must fail rather than hang or succeed.
		{"unreachable", objstore.S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if _, err := objstore.NewS3(ctx, tt.cfg); err == nil {
				t.Fatal("NewS3 succeeded")
			}
		})
	}
}
