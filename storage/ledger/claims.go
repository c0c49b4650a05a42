package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ClaimedBy returns the id of the invoice a transaction paid ("" when none). Verifiers ask first,
// so that a transaction presented for a second invoice is refused as used rather than for
// whatever else that invoice expects (its memo, say). Confirm stays the atomic guard.
func (l *Ledger) ClaimedBy(ctx context.Context, txHash string) (string, error) {
	tx, err := canonicalTx(txHash)
	if err != nil {
		return "", err
	}
	id, err := l.rdb.Get(ctx, l.keys.LedgerTxClaim(tx)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: read tx claim: %w", err)
	}
	return id, nil
}
