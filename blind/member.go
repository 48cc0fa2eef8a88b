package blind

import (
	"fmt"

	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/seal"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A member's side of the envelope: what it gives an archive, and how it
// opens what an archive gives it.

// Enclose puts one record block of author's log (at seq) in its envelope
// for an archive: in clear for a membership or keys record (the archive
// verifies those, or stores them for members it cannot tell apart), sealed
// under key (epoch) for every other kind, with the sealed blobs a seal
// record makes wanted.
func Enclose(author peer.ID, seq uint64, block []byte, epoch seal.Epoch, key seal.Key) ([]byte, error) {
	rec, err := project.PeekRecord(block)
	if err != nil {
		return nil, err
	}
	if rec.Author != author || rec.Seq != seq {
		return nil, fmt.Errorf("blind: record of %s seq %d given as %s seq %d", rec.Author, rec.Seq, author, seq)
	}
	e := Envelope{Author: author, Seq: seq}
	if Clear(rec.Kind) {
		e.Clear = block
	} else {
		e.Epoch, e.Sealed = epoch, seal.SealRecord(key, block)
		if rec.Seal != nil {
			for _, s := range rec.Seal.Entries {
				e.Blobs = append(e.Blobs, Blob{CID: s.Sealed, Class: s.Class, Size: s.Size, ObservedAt: s.ObservedAt})
			}
		}
	}
	return e.Marshal()
}

// Clear reports whether records of kind k travel in clear to an archive:
// membership records (it must know who may sync, and who is blocked) and
// keys records (wrapped keys: only their recipients open them, and a
// member must be able to read one before it holds the key it carries).
func Clear(k project.Kind) bool {
	return k == project.KindMembership || k == project.KindKeys
}

// Disclose opens an envelope from an archive with a member's keyring: the
// record block, checked to be the one at the envelope's place. The block
// is then verified as any record (signature, log, roles).
func Disclose(kr *seal.Keyring, env []byte) (*Envelope, []byte, error) {
	e, err := Unmarshal(env)
	if err != nil {
		return nil, nil, err
	}
	block := e.Clear
	if len(e.Sealed) > 0 {
		if block, _, err = kr.OpenRecord(e.Sealed); err != nil {
			return e, nil, err
		}
	}
	rec, err := project.PeekRecord(block)
	if err != nil {
		return e, nil, err
	}
	if rec.Author != e.Author || rec.Seq != e.Seq {
		return e, nil, fmt.Errorf("%w: the record inside is %s seq %d, not %s seq %d", ErrMalformed, rec.Author, rec.Seq, e.Author, e.Seq)
	}
	if Clear(rec.Kind) != (len(e.Clear) > 0) {
		return e, nil, fmt.Errorf("%w: a %s record %s", ErrMalformed, rec.Kind, map[bool]string{true: "in clear", false: "sealed"}[len(e.Clear) > 0])
	}
	return e, block, nil
}
