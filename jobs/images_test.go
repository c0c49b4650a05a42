package jobs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tbackend/tbackend/jobs"
)

func TestImageGolden(t *testing.T) {
	ref := func(i int) jobs.ImageRef {
		return jobs.ImageRef{Key: fmt.Sprintf("inputs/images/2026/11/30/JOBIDIMAGE000000000000000000001-%d.png", i),
			MIME: "image/png", Width: 1024, Height: 1024}
	}
	mask := ref(0)
	mask.Key = strings.Replace(mask.Key, "-0.png", "-mask.png", 1)
	checkGolden(t, "image_payload.json", jobs.ImagePayload{Model: "gpt-image-1", Prompt: "add a hat", N: 2,
		Size: "1024x1536", Quality: "low", ResponseFormat: "b64_json", Inputs: []jobs.ImageRef{ref(0), ref(1)}, Mask: &mask},
		roundTrip[jobs.ImagePayload])
	checkGolden(t, "image_result.json", jobs.ImageResult{Success: true, Model: "dall-e-3", JobID: "JOBIDIMAGE000000000000000000001",
		Created: 1796040000, ResponseFormat: "url", Images: []jobs.Image{{
			Key: "images/2026/11/30/JOBIDIMAGE000000000000000000001-0.png", MIME: "image/png", Width: 1792, Height: 1024,
			RevisedPrompt: "a lighthouse at dusk"}}},
		roundTrip[jobs.ImageResult])
}

func TestImageNames(t *testing.T) {
	for got, want := range map[string]string{
		jobs.TypeImageGenerate: "images:generate", jobs.TypeImageEdit: "images:edit", jobs.TypeImageVariation: "images:variation",
	} {
		if got != want || !jobs.IsImageType(got) {
			t.Errorf("type %q, want %q (an image type)", got, want)
		}
	}
	if jobs.IsImageType(jobs.TypeChat) || jobs.IsImageType("images:") {
		t.Error("IsImageType accepts a non-image type")
	}
	for _, typ := range []string{jobs.TypeImageGenerate, jobs.TypeImageEdit, jobs.TypeImageVariation} {
		p, err := jobs.PolicyFor(typ)
		// Re-run after a worker dies (the uploads stay until the last attempt ends).
		if err != nil || p.MaxRetry < 1 || p.Timeout < 5*time.Minute {
			t.Errorf("%s policy %+v, %v", typ, p, err)
		}
	}
}

// The largest payload the api can build (longest prompt in 4-byte characters, most inputs with
// the longest keys, a mask) stays small: images themselves never ride in it.
func TestImagePayloadIsSmall(t *testing.T) {
	key := strings.Repeat("k", 512)
	in := jobs.ImageRef{Key: key, MIME: "image/webp", Width: 16384, Height: 16384}
	p := jobs.ImagePayload{Model: strings.Repeat("m", 64), Prompt: strings.Repeat("🖼", 32000), N: 10,
		Size: "1024x1536", Quality: "medium", Style: "natural", ResponseFormat: "b64_json", Mask: &in}
	for range 16 {
		p.Inputs = append(p.Inputs, in)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 144<<10 {
		t.Fatalf("worst-case image payload is %d bytes", len(b))
	}
}
