package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/jobs"
)

// presentResult completes a finished job's result for its caller. Image results get URLs signed
// now (so they live for the configured time from this answer on) and, when the caller asked for
// b64_json, the bytes; other results pass unchanged.
func (s *Server) presentResult(c *fiber.Ctx, jobType string, raw json.RawMessage) (json.RawMessage, error) {
	if !jobs.IsImageType(jobType) || len(raw) == 0 || string(raw) == "null" {
		return raw, nil
	}
	var res jobs.ImageResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("image result: %w", err)
	}
	for i := range res.Images {
		img := &res.Images[i]
		url, err := s.deps.Objects.URL(c.UserContext(), img.Key, s.cfg.ImageURLTTL, s.baseURL(c))
		if err != nil {
			return nil, err
		}
		img.URL = url
		if res.ResponseFormat == "b64_json" {
			if img.B64JSON, err = s.readBase64(c, img.Key); err != nil {
				return nil, err
			}
		}
	}
	return marshalJSON(res)
}

func (s *Server) readBase64(c *fiber.Ctx, key string) (string, error) {
	r, _, err := s.deps.Objects.Get(c.UserContext(), key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}

// jobFailed is how a failed job reads. Image routes answer in the images API's own shape,
// {"success": false, "error": {code, message}}, next to the detail every error body has.
func jobFailed(jobType string, je *jobs.Error) error {
	if !jobs.IsImageType(jobType) {
		return je
	}
	he, _ := toHTTP(je)
	out := *he
	out.Extra = map[string]any{"success": false, "error": jobFailure{Code: je.Code, Message: je.Message}}
	return &out
}
