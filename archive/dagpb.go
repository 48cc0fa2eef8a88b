package archive

import (
	"encoding/binary"
	"errors"

	"github.com/ipfs/go-cid"
)

// A minimal dag-pb reader: the importer needs a node's child links (to
// gather a blob's skeleton from blocks arriving in any order) and the
// UnixFS file size of a root (to hand chunk.ParseSkeleton the skeleton's
// wire form). chunk.ParseSkeleton then checks everything else.
//
//	PBNode { 2: repeated PBLink Links; 1: bytes Data }
//	PBLink { 1: bytes Hash; 2: string Name; 3: uint64 Tsize }
//	UnixFS Data { 1: Type; 2: Data; 3: uint64 filesize; 4: blocksizes }

var errPB = errors.New("malformed dag-pb node")

// pbFields calls fn for each field of a protobuf message; bytes fields
// carry their payload, varint fields their value.
func pbFields(b []byte, fn func(num int, wire int, v uint64, payload []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errPB
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return errPB
			}
			b = b[n:]
			if err := fn(num, wire, v, nil); err != nil {
				return err
			}
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errPB
			}
			p := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := fn(num, wire, 0, p); err != nil {
				return err
			}
		default:
			return errPB
		}
	}
	return nil
}

// pbLinks returns the CIDs a dag-pb node links to, in order, and the UnixFS
// file size its data declares.
func pbLinks(node []byte) (links []cid.Cid, fileSize uint64, err error) {
	err = pbFields(node, func(num, wire int, _ uint64, p []byte) error {
		switch {
		case num == 2 && wire == 2:
			var c cid.Cid
			err := pbFields(p, func(num, wire int, _ uint64, h []byte) error {
				if num == 1 && wire == 2 {
					k, cc, err := cid.CidFromBytes(h)
					if err != nil || k != len(h) {
						return errPB
					}
					c = cc
				}
				return nil
			})
			if err != nil || !c.Defined() {
				return errPB
			}
			links = append(links, c)
		case num == 1 && wire == 2:
			return pbFields(p, func(num, wire int, v uint64, _ []byte) error {
				if num == 3 && wire == 0 {
					fileSize = v
				}
				return nil
			})
		}
		return nil
	})
	return links, fileSize, err
}
