package main

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage"
	"github.com/tbackend/tbackend/storage/objstore"
	"github.com/tbackend/tbackend/workers"
)

// openObjects opens the object store: S3/MinIO when S3_ENDPOINT is set, else the local directory.
func (s *service) openObjects(ctx context.Context) error {
	c := s.cfg
	if c.S3.Endpoint != "" {
		st, err := objstore.NewS3(ctx, objstore.S3Config{
			Endpoint: c.S3.Endpoint, AccessKey: c.S3.AccessKey, SecretKey: c.S3.SecretKey,
			Bucket: c.S3.Bucket, Region: c.S3.Region, UseSSL: c.S3.UseSSL, PublicBaseURL: c.S3.PublicURL,
		})
		if err != nil {
			return &configError{"S3_ENDPOINT", err.Error()}
		}
		s.objects = st
		return nil
	}
	key := []byte(c.FilesSigningKey)
	if len(key) == 0 { // dev only: loadConfig requires it for api and worker
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		s.log.Info("FILES_SIGNING_KEY is unset: file URLs are signed with a key that lasts until restart")
	}
	st, err := objstore.NewLocal(objstore.LocalConfig{Dir: c.StorageDir, SigningKey: key, PublicBaseURL: c.PublicBaseURL})
	if err != nil {
		return &configError{"STORAGE_DIR", err.Error()}
	}
	s.objects = st
	return nil
}

// retentionEvery is how often the retention sweep is scheduled.
const retentionEvery = time.Hour

// scheduleRetention registers the hourly sweep on asynq's scheduler. Every worker process runs a
// scheduler; Unique collapses their enqueues into one job per period.
func (s *service) scheduleRetention(w *workers.Server) (*asynq.Scheduler, error) {
	w.Handle(jobs.TypeObjectRetention, workers.Retention{Store: s.objects}.Handle)
	if s.cfg.ObjectRetention <= 0 {
		return nil, nil
	}
	pol, err := jobs.PolicyFor(jobs.TypeObjectRetention)
	if err != nil {
		return nil, err
	}
	payload, err := jobs.Marshal(jobs.RetentionPayload{MaxAgeSeconds: int64(s.cfg.ObjectRetention / time.Second)})
	if err != nil {
		return nil, err
	}
	opts, err := storage.RedisOptions(s.cfg.Redis)
	if err != nil {
		return nil, err
	}
	// A connection of its own: the scheduler closes its client on shutdown.
	// The heartbeat publishes the entries operators see in asynqmon (asynq's default is 10 s).
	sch := asynq.NewScheduler(ownConn{opts}, &asynq.SchedulerOpts{Location: time.UTC, LogLevel: asynq.WarnLevel,
		HeartbeatInterval: 2 * time.Second, Logger: storage.AsynqLogger(s.log)})
	_, err = sch.Register("@every "+retentionEvery.String(), asynq.NewTask(jobs.TypeObjectRetention, payload),
		asynq.Queue(pol.Queue), asynq.Timeout(pol.Timeout), asynq.MaxRetry(pol.MaxRetry),
		asynq.Retention(pol.Retention), asynq.Unique(retentionEvery-time.Minute))
	if err != nil {
		return nil, err
	}
	if err := sch.Start(); err != nil {
		return nil, err
	}
	return sch, nil
}
