package objstore

import (
	"testing"
	"time"
)

func TestObjectKeys(t *testing.T) {
	// 23:30 in UTC-5 is the next day in UTC: keys are dated in UTC.
	at := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	for _, c := range []struct{ got, want string }{
		{ChatInputKey(at, "JOB", "webp"), "inputs/chat/2026/03/02/JOB.webp"},
		{ImageInputKey(at, "JOB", 2, "png"), "inputs/images/2026/03/02/JOB-2.png"},
		{ImageMaskKey(at, "JOB"), "inputs/images/2026/03/02/JOB-mask.png"},
		{ImageResultKey(at, "JOB", 0, "jpg"), "images/2026/03/02/JOB-0.jpg"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
		if err := ValidateKey(c.got); err != nil {
			t.Errorf("%q is not a valid key: %v", c.got, err)
		}
	}
}
