package blockfrosterr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blockfrost/blockfrost-go"

	"github.com/tbackend/tbackend/workers/blockfrosterr"
)

func TestStatus(t *testing.T) {
	apiErr := func(response any) error { return &blockfrost.APIError{Response: response} }
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"not an API error", errors.New("dial tcp: refused"), 0},
		{"context", context.DeadlineExceeded, 0},
		{"400", apiErr(blockfrost.BadRequest{StatusCode: 400}), 400},
		{"403", apiErr(blockfrost.UnauthorizedError{StatusCode: 403}), 403},
		{"404", apiErr(blockfrost.NotFound{StatusCode: 404}), 404},
		{"429", apiErr(blockfrost.OverusageLimit{StatusCode: 429}), 429},
		{"418", apiErr(blockfrost.AutoBanned{StatusCode: 418}), 418},
		{"500", apiErr(blockfrost.InternalServerError{StatusCode: 500}), 500},
		{"untyped 402 keeps its raw body", apiErr(`{"status_code":402,"error":"Project Over Limit"}`), 402},
		{"untyped 503", apiErr(`{"status_code":503,"error":"Service Unavailable"}`), 503},
		{"a raw body that is not JSON", apiErr("<html>bad gateway</html>"), 0},
		{"an unknown response type", apiErr(42), 0},
		{"wrapped", fmt.Errorf("chain: %w", apiErr(blockfrost.NotFound{StatusCode: 404})), 404},
	} {
		if got := blockfrosterr.Status(tc.err); got != tc.want {
			t.Errorf("%s: Status(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
