package project

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
)

// Saved want lists. Reading the wants is a join of every current
// observation with its attachments: for 30,000 blobs it is about 150 ms of
// the pure-Go SQLite, most of a sync with nothing new. So a process keeps
// the lists it read in the database when it is done (SaveWants), each with
// the records' mark it was read at (project_records' largest rowid and the
// pending count, as Refresh compares them). The next process uses a saved
// list only while the mark is the same: every change to the project's
// tables comes with a record, so a list saved at the current mark is the
// list the tables give, never a stale one. A list that does not decode is
// read from the tables again.
//
// The encoding (encodeWants) is written by hand, not with the CBOR library
// the records use: on 30,000 wants that library took 3× the time and 3.5×
// the memory to encode (6 ms, 8.4 MB against 1.3 ms, 2.4 MB in one
// allocation) and to decode (13 ms, 8.2 MB against 4 ms, 4.6 MB), at
// every start and close of a device whose memory goal is 100 MiB.

// savedWantsFormat is the encoding's first byte. Change it when the
// encoding changes or when WantedBlobs derives its list differently (a
// class, an order): a saved list of another format is not used.
const savedWantsFormat = 1

const savedWantsSchema = `CREATE TABLE IF NOT EXISTS project_saved_wants (
		filter TEXT PRIMARY KEY,
		mark_records INTEGER NOT NULL,
		mark_pending INTEGER NOT NULL,
		list BLOB NOT NULL
	)`

// recordsMark is what changes whenever the project does: the largest
// rowid of the records and the number of pending membership records.
func recordsMark(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (mark [2]int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(rowid), 0) FROM project_records),
		(SELECT COUNT(*) FROM project_pending)`).Scan(&mark[0], &mark[1])
	return mark, err
}

// savedWants returns the list saved for filter key at mark, if there is
// one that decodes.
func (p *Project) savedWants(ctx context.Context, key string, mark [2]int64) ([]Want, bool) {
	var b []byte
	err := p.db.QueryRowContext(ctx, `SELECT list FROM project_saved_wants
		WHERE filter = ? AND mark_records = ? AND mark_pending = ?`, key, mark[0], mark[1]).Scan(&b)
	if err != nil {
		return nil, false
	}
	ws, err := decodeWants(b)
	return ws, err == nil
}

// SaveWants keeps in the database the want lists this process read at the
// project's current state, so that the next process to open the project
// starts with them instead of reading the tables (a sync with nothing new
// then costs a third less). Lists saved at an older state are dropped. It
// is cheap when there is nothing new to save; node.Node.Close calls it.
func (p *Project) SaveWants(ctx context.Context) error {
	gen := p.gen.Load()
	type entry struct {
		key   string
		mark  [2]int64
		wants []Want
	}
	var todo []entry
	p.wantMu.Lock()
	for k, c := range p.wantCache {
		if c.gen == gen && c.marked && !c.saved {
			todo = append(todo, entry{k, c.mark, c.wants})
		}
	}
	p.wantMu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil) // a write transaction: the mark holds
	if err != nil {
		return fmt.Errorf("save wants: %w", err)
	}
	defer tx.Rollback()
	mark, err := recordsMark(ctx, tx)
	if err != nil {
		return fmt.Errorf("save wants: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM project_saved_wants WHERE mark_records != ? OR mark_pending != ?`, mark[0], mark[1]); err != nil {
		return fmt.Errorf("save wants: %w", err)
	}
	var saved []string
	for _, e := range todo {
		if e.mark != mark {
			continue // the project changed since this list was read
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO project_saved_wants (filter, mark_records, mark_pending, list)
			VALUES (?, ?, ?, ?)`, e.key, mark[0], mark[1], encodeWants(e.wants)); err != nil {
			return fmt.Errorf("save wants: %w", err)
		}
		saved = append(saved, e.key)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save wants: %w", err)
	}
	p.wantMu.Lock()
	for _, k := range saved {
		if c, ok := p.wantCache[k]; ok && c.mark == mark {
			c.saved = true
			p.wantCache[k] = c
		}
	}
	p.wantMu.Unlock()
	return nil
}

// encodeWants writes ws as: the format byte; the number of media types and
// each (length, bytes); the number of wants and for each its CID (length,
// bytes), class (one byte), size, observation time in Unix milliseconds
// (zigzag), media type's index and observation ID (length, bytes), every
// number a varint.
func encodeWants(ws []Want) []byte {
	types := map[string]int{}
	var names []string
	for _, w := range ws {
		if _, ok := types[w.MediaType]; !ok {
			types[w.MediaType] = len(names)
			names = append(names, w.MediaType)
		}
	}
	b := make([]byte, 0, 16+len(ws)*80)
	b = append(b, savedWantsFormat)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(ws)))
	for _, w := range ws {
		b = appendString(b, w.CID.KeyString())
		b = append(b, byte(w.Class))
		b = binary.AppendUvarint(b, uint64(w.Size))
		b = binary.AppendVarint(b, w.ObservedAt.UnixMilli())
		b = binary.AppendUvarint(b, uint64(types[w.MediaType]))
		b = appendString(b, w.ObservationID)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errBadWants = errors.New("saved wants: malformed")

// decodeWants reads what encodeWants wrote; any other input is an error,
// never a panic or a partial list.
func decodeWants(b []byte) ([]Want, error) {
	if len(b) == 0 || b[0] != savedWantsFormat {
		return nil, errBadWants
	}
	d := wantDecoder{b: b[1:]}
	nt := d.count(1)
	names := make([]string, 0, nt)
	for range nt {
		names = append(names, d.str())
	}
	// A want takes at least 8 bytes: a CID's length and bytes (at least
	// 2), class, size, time, type and ID's length.
	n := d.count(8)
	if d.err != nil {
		return nil, d.err
	}
	ws := make([]Want, 0, n)
	for range n {
		var w Want
		var err error
		if w.CID, err = cid.Cast(d.bytes()); err != nil {
			d.fail()
		}
		w.Class = blob.Class(d.byte())
		if w.Class < 0 || w.Class >= blob.NumClasses {
			d.fail()
		}
		size := d.uvarint()
		if size > math.MaxInt64 {
			d.fail()
		}
		w.Size = int64(size)
		w.ObservedAt = fromMS(d.varint())
		if t := d.uvarint(); t < uint64(len(names)) {
			w.MediaType = names[t]
		} else {
			d.fail()
		}
		w.ObservationID = d.str()
		if d.err != nil {
			return nil, d.err
		}
		ws = append(ws, w)
	}
	if len(d.b) != 0 {
		return nil, errBadWants
	}
	return ws, nil
}

// wantDecoder reads varints and strings; after the first failure every
// read returns zero and err stays set.
type wantDecoder struct {
	b   []byte
	err error
}

func (d *wantDecoder) fail() { d.err, d.b = errBadWants, nil }

func (d *wantDecoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }
func (d *wantDecoder) varint() int64   { return readVarint(d, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or Varint).
func readVarint[T uint64 | int64](d *wantDecoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *wantDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// bytes reads a length and that many bytes, returned in place.
func (d *wantDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *wantDecoder) str() string { return string(d.bytes()) }

// count reads a number of items each at least min bytes long, refusing
// one the remaining bytes cannot hold.
func (d *wantDecoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}
