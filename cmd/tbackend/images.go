package main

import (
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/workers"
)

// handleImages wires the three image jobs to the images API and the object store.
func (s *service) handleImages(w *workers.Server, m *workers.Metrics) {
	h := &workers.Images{
		API: workers.NewImageAPI(s.cfg.OpenAIBaseURL, s.cfg.OpenAIKey, m), Store: s.objects,
		Request: s.cfg.Chat.Request, Retries: s.cfg.Chat.Retries, Interrupted: w.Stopping,
	}
	for _, typ := range []string{jobs.TypeImageGenerate, jobs.TypeImageEdit, jobs.TypeImageVariation} {
		w.Handle(typ, h.Handle)
	}
}
