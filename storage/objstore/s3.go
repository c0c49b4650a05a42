package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures the S3/MinIO backend.
type S3Config struct {
	// Endpoint is host:port (a scheme, if given, overrides UseSSL).
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	// Region defaults to us-east-1. It is always set on the client so that
	// presigning never needs a bucket-location lookup.
	Region string
	UseSSL bool
	// PublicBaseURL (e.g. https://files.example.com) is how clients reach the
	// store when that differs from Endpoint (in-cluster name, proxy, CDN).
	// Presigned URLs are signed for this host. Empty: sign for Endpoint.
	PublicBaseURL string
}

// streamPartSize bounds memory for uploads of unknown size: minio-go buffers
// one part at a time and would otherwise pick ~537 MiB parts (sized for a
// 5 TiB object). 8 MiB parts still allow objects up to ~78 GiB.
const streamPartSize = 8 << 20

type s3Backend struct {
	client *minio.Client
	// presign signs URLs for the public host. SigV4 covers the Host header,
	// so a URL signed for the internal endpoint fails behind another host.
	presign *minio.Client
	bucket  string
}

// NewS3 connects to an S3-compatible store and creates the bucket if it is
// missing.
func NewS3(ctx context.Context, cfg S3Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("objstore: s3: Endpoint and Bucket are required")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("objstore: s3: AccessKey and SecretKey are required")
	}
	endpoint, secure := cfg.Endpoint, cfg.UseSSL
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("objstore: s3: bad Endpoint %q", cfg.Endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: region})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: %w", err)
	}
	presign := client
	if cfg.PublicBaseURL != "" {
		u, err := url.Parse(cfg.PublicBaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			// A path prefix would not be part of what S3 signs.
			return nil, fmt.Errorf("objstore: s3: PublicBaseURL %q must be scheme://host[:port]", cfg.PublicBaseURL)
		}
		if pubSecure := u.Scheme == "https"; u.Host != endpoint || pubSecure != secure {
			presign, err = minio.New(u.Host, &minio.Options{Creds: creds, Secure: pubSecure, Region: region})
			if err != nil {
				return nil, fmt.Errorf("objstore: s3: public client: %w", err)
			}
		}
	}
	b := &s3Backend{client: client, presign: presign, bucket: cfg.Bucket}
	if err := b.ensureBucket(ctx, region); err != nil {
		return nil, err
	}
	return &Store{mode: "s3", b: b}, nil
}

func (b *s3Backend) ensureBucket(ctx context.Context, region string) error {
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("objstore: s3: bucket %q: %w", b.bucket, err)
	}
	if ok {
		return nil
	}
	err = b.client.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{Region: region})
	if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou {
		err = nil // another replica created it at the same time
	}
	if err != nil {
		return fmt.Errorf("objstore: s3: create bucket %q: %w", b.bucket, err)
	}
	return nil
}

func (b *s3Backend) put(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) (Object, error) {
	opts := minio.PutObjectOptions{ContentType: contentType, CacheControl: cacheControl}
	if size < 0 {
		opts.PartSize = streamPartSize
	}
	info, err := b.client.PutObject(ctx, b.bucket, key, r, size, opts)
	if err != nil {
		return Object{}, mapS3Err("put", key, err)
	}
	// Stat so Put reports exactly what Stat and Get will (server mtime,
	// final multipart ETag); fall back to the upload answer if it fails.
	if st, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{}); err == nil && st.ETag == info.ETag {
		return objectFromInfo(key, st), nil
	}
	mod := info.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return Object{Key: key, ContentType: contentType, CacheControl: cacheControl, Size: info.Size, ModTime: mod, ETag: info.ETag}, nil
}

func (b *s3Backend) get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, mapS3Err("get", key, err)
	}
	// GetObject is lazy; Stat sends the request and surfaces NoSuchKey now
	// rather than on the caller's first Read.
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Object{}, mapS3Err("get", key, err)
	}
	return obj, objectFromInfo(key, info), nil
}

func (b *s3Backend) stat(ctx context.Context, key string) (Object, error) {
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, mapS3Err("stat", key, err)
	}
	return objectFromInfo(key, info), nil
}

func (b *s3Backend) remove(ctx context.Context, key string) error {
	err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return mapS3Err("delete", key, err)
	}
	return nil
}

func (b *s3Backend) url(ctx context.Context, key string, ttl time.Duration, _ string) (string, error) {
	u, err := b.presign.PresignedGetObject(ctx, b.bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("objstore: presign %q: %w", key, err)
	}
	return u.String(), nil
}

func (b *s3Backend) ping(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("objstore: ping: %w", err)
	}
	if !ok {
		return fmt.Errorf("objstore: ping: bucket %q does not exist", b.bucket)
	}
	return nil
}

func (b *s3Backend) deleteOlderThan(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	listCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Stream list results straight into a multi-object delete so a large
	// bucket is never held in memory.
	victims := make(chan minio.ObjectInfo)
	listed := make(chan struct{})
	var sent int
	var listErr error
	go func() {
		defer close(listed)
		defer close(victims)
		for obj := range b.client.ListObjects(listCtx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				listErr = obj.Err
				return
			}
			if !obj.LastModified.Before(cutoff) {
				continue
			}
			select {
			case victims <- minio.ObjectInfo{Key: obj.Key}:
				sent++
			case <-listCtx.Done():
				listErr = listCtx.Err()
				return
			}
		}
	}()

	failed := 0
	var errs []error
	for e := range b.client.RemoveObjects(ctx, b.bucket, victims, minio.RemoveObjectsOptions{}) {
		failed++
		if len(errs) < 5 {
			errs = append(errs, fmt.Errorf("%s: %w", e.ObjectName, e.Err))
		}
	}
	cancel() // unblocks the lister if the delete side stopped early
	<-listed
	if listErr != nil {
		errs = append(errs, listErr)
	}
	deleted := sent - failed
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("objstore: retention sweep %q: %w", prefix, err)
	}
	if err := ctx.Err(); err != nil {
		return deleted, fmt.Errorf("objstore: retention sweep %q: %w", prefix, err)
	}
	return deleted, nil
}

func objectFromInfo(key string, info minio.ObjectInfo) Object {
	return Object{
		Key:          key,
		ContentType:  info.ContentType,
		CacheControl: info.Metadata.Get("Cache-Control"),
		Size:         info.Size,
		ModTime:      info.LastModified,
		ETag:         info.ETag,
	}
}

func mapS3Err(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == minio.NoSuchKey || (resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket) {
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return fmt.Errorf("objstore: %s %q: %w: %w", op, key, ErrUnavailable, err)
	}
	return fmt.Errorf("objstore: %s %q: %w", op, key, err)
}
