package api

import (
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/stream"
)

// ndjsonType is the media type of a chat stream sent as newline-delimited JSON.
const ndjsonType = "application/x-ndjson"

// wantsNDJSON tells whether a chat stream is asked for as NDJSON (orynq-sdk reads those):
// Accept naming application/x-ndjson, or ?format=ndjson. Server-Sent Events stay the default.
func wantsNDJSON(c *fiber.Ctx) bool {
	return c.Query("format") == "ndjson" || strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), ndjsonType)
}

// frame writes one frame's JSON (Raw): an SSE event (with its ID when it has one), or an NDJSON
// line, the same object with its ID as "id" (what a resume's Last-Event-ID names). Frames are
// objects.
func (r *relay) frame(f stream.Frame) error {
	id, data := f.ID, f.Raw
	var err error
	switch {
	case !r.ndjson && id != "":
		_, err = fmt.Fprintf(r.w, "id: %s\ndata: %s\n\n", id, data)
	case !r.ndjson:
		_, err = fmt.Fprintf(r.w, "data: %s\n\n", data)
	case id == "" || len(data) < 2 || data[0] != '{':
		_, err = fmt.Fprintf(r.w, "%s\n", data)
	case len(data) == 2:
		_, err = fmt.Fprintf(r.w, "{\"id\":%q}\n", id)
	default:
		_, err = fmt.Fprintf(r.w, "{\"id\":%q,%s\n", id, data[1:])
	}
	return err
}
