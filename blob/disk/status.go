package disk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// PartialStatus reports how much of the partial blob c is verified and
// durable: done counts the bytes of its verified leaves (every leaf is
// chunk.ChunkSize bytes but the last), size is the blob's size. It reads one
// database row, so it is cheap enough for a progress display, and it works
// while the exchange holds the partial blob open. A blob that is not partial
// gives an error wrapping fs.ErrNotExist.
func (s *Store) PartialStatus(ctx context.Context, c cid.Cid) (done, size int64, err error) {
	var have []byte
	err = s.db.QueryRowContext(ctx, `SELECT size, have FROM blob_partials WHERE cid = ?`, c.Bytes()).Scan(&size, &have)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("partial blob %s: %w", c, fs.ErrNotExist)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("partial blob %s: %w", c, err)
	}
	leaves := (size + chunk.ChunkSize - 1) / chunk.ChunkSize
	var had int64
	for _, b := range have {
		had += int64(bits.OnesCount8(b))
	}
	had = min(had, leaves)
	done = had * chunk.ChunkSize
	if had == leaves {
		done = size
	} else if had > 0 && have[(leaves-1)/8]&(1<<((leaves-1)%8)) != 0 {
		// the last leaf is had and shorter than ChunkSize
		done -= leaves*chunk.ChunkSize - size
	}
	return done, size, nil
}
