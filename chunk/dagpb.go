package chunk

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"
)

// link is one dag-pb link: the child's CID, its total encoded size (Tsize)
// and the file bytes under it (the UnixFS blocksize).
type link struct {
	cid      cid.Cid
	tsize    uint64
	fileSize uint64
}

// encodeNode encodes a UnixFS File node with the given children, exactly as
// boxo's balanced importer does: PBNode links first (field 2, each with Hash,
// an empty Name and Tsize), then Data (field 1) holding the UnixFS message
// {Type: File, filesize, blocksizes...} with no inline data.
func encodeNode(links []link) []byte {
	var fsize uint64
	for _, l := range links {
		fsize += l.fileSize
	}
	// UnixFS Data message.
	ufs := make([]byte, 0, 2+10+len(links)*6)
	ufs = append(ufs, 0x08, 0x02) // Type = File
	ufs = append(ufs, 0x18)       // filesize
	ufs = binary.AppendUvarint(ufs, fsize)
	for _, l := range links {
		ufs = append(ufs, 0x20) // blocksizes (unpacked)
		ufs = binary.AppendUvarint(ufs, l.fileSize)
	}
	out := make([]byte, 0, len(links)*48+len(ufs)+8)
	var lb []byte
	for _, l := range links {
		lb = lb[:0]
		cb := l.cid.Bytes()
		lb = append(lb, 0x0a) // Hash
		lb = binary.AppendUvarint(lb, uint64(len(cb)))
		lb = append(lb, cb...)
		lb = append(lb, 0x12, 0x00) // Name = ""
		lb = append(lb, 0x18)       // Tsize
		lb = binary.AppendUvarint(lb, l.tsize)
		out = append(out, 0x12) // PBNode.Links
		out = binary.AppendUvarint(out, uint64(len(lb)))
		out = append(out, lb...)
	}
	out = append(out, 0x0a) // PBNode.Data
	out = binary.AppendUvarint(out, uint64(len(ufs)))
	out = append(out, ufs...)
	return out
}

// decodedNode is what decodeNode reads out of a dag-pb UnixFS File node.
type decodedNode struct {
	links      []link
	fileSize   uint64
	blockSizes []uint64
}

// decodeNode parses a dag-pb node strictly: only the fields this profile
// writes, in canonical order, a UnixFS File with no inline data whose
// blocksizes match its links and add up to its filesize.
func decodeNode(b []byte) (*decodedNode, error) {
	var n decodedNode
	var data []byte
	haveData := false
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad field key", ErrMalformed)
		}
		b = b[k:]
		if haveData {
			return nil, fmt.Errorf("%w: field after Data", ErrMalformed)
		}
		switch key {
		case 0x12: // Links
			body, rest, err := lengthDelimited(b)
			if err != nil {
				return nil, err
			}
			b = rest
			l, err := decodeLink(body)
			if err != nil {
				return nil, err
			}
			if len(n.links) >= MaxLinks {
				return nil, fmt.Errorf("%w: more than %d links", ErrMalformed, MaxLinks)
			}
			n.links = append(n.links, l)
		case 0x0a: // Data
			body, rest, err := lengthDelimited(b)
			if err != nil {
				return nil, err
			}
			b = rest
			data = body
			haveData = true
		default:
			return nil, fmt.Errorf("%w: unexpected dag-pb field key %#x", ErrMalformed, key)
		}
	}
	if !haveData {
		return nil, fmt.Errorf("%w: node without UnixFS data", ErrMalformed)
	}
	if len(n.links) == 0 {
		return nil, fmt.Errorf("%w: node without links", ErrMalformed)
	}
	typ := uint64(0)
	seenType, seenSize := false, false
	for len(data) > 0 {
		key, k := binary.Uvarint(data)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad UnixFS field key", ErrMalformed)
		}
		data = data[k:]
		v, k := binary.Uvarint(data)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad UnixFS varint", ErrMalformed)
		}
		data = data[k:]
		switch key {
		case 0x08:
			if seenType || seenSize || len(n.blockSizes) > 0 {
				return nil, fmt.Errorf("%w: UnixFS fields out of order", ErrMalformed)
			}
			typ, seenType = v, true
		case 0x18:
			if !seenType || seenSize || len(n.blockSizes) > 0 {
				return nil, fmt.Errorf("%w: UnixFS fields out of order", ErrMalformed)
			}
			n.fileSize, seenSize = v, true
		case 0x20:
			if !seenSize {
				return nil, fmt.Errorf("%w: UnixFS fields out of order", ErrMalformed)
			}
			if len(n.blockSizes) >= MaxLinks {
				return nil, fmt.Errorf("%w: too many blocksizes", ErrMalformed)
			}
			n.blockSizes = append(n.blockSizes, v)
		default:
			return nil, fmt.Errorf("%w: unexpected UnixFS field key %#x", ErrMalformed, key)
		}
	}
	if typ != 2 {
		return nil, fmt.Errorf("%w: UnixFS type %d, want File (2)", ErrMalformed, typ)
	}
	if len(n.blockSizes) != len(n.links) {
		return nil, fmt.Errorf("%w: %d blocksizes for %d links", ErrMalformed, len(n.blockSizes), len(n.links))
	}
	var sum uint64
	for i, s := range n.blockSizes {
		if s == 0 {
			return nil, fmt.Errorf("%w: empty child", ErrMalformed)
		}
		sum += s
		if sum < s {
			return nil, fmt.Errorf("%w: blocksizes overflow", ErrMalformed)
		}
		n.links[i].fileSize = s
	}
	if sum != n.fileSize {
		return nil, fmt.Errorf("%w: blocksizes add to %d, filesize is %d", ErrMalformed, sum, n.fileSize)
	}
	return &n, nil
}

func decodeLink(b []byte) (link, error) {
	var l link
	step := 0
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return l, fmt.Errorf("%w: bad link field key", ErrMalformed)
		}
		b = b[k:]
		switch {
		case key == 0x0a && step == 0:
			body, rest, err := lengthDelimited(b)
			if err != nil {
				return l, err
			}
			b = rest
			c, err := cid.Cast(body)
			if err != nil {
				return l, fmt.Errorf("%w: link hash: %v", ErrMalformed, err)
			}
			if err := CheckCID(c); err != nil {
				return l, err
			}
			l.cid = c
			step = 1
		case key == 0x12 && step == 1:
			body, rest, err := lengthDelimited(b)
			if err != nil {
				return l, err
			}
			if len(body) != 0 {
				return l, fmt.Errorf("%w: named link in a file node", ErrMalformed)
			}
			b = rest
			step = 2
		case key == 0x18 && step == 2:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return l, fmt.Errorf("%w: bad Tsize", ErrMalformed)
			}
			b = b[k:]
			l.tsize = v
			step = 3
		default:
			return l, fmt.Errorf("%w: unexpected link field key %#x", ErrMalformed, key)
		}
	}
	if step != 3 {
		return l, fmt.Errorf("%w: incomplete link", ErrMalformed)
	}
	return l, nil
}

func lengthDelimited(b []byte) (body, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: truncated field", ErrMalformed)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// NodeLinks decodes a dag-pb node of this profile, as strictly as
// ParseSkeleton does, and returns its children's CIDs in order and the
// file bytes under it: enough to gather a skeleton from blocks that arrive
// in any order (a CAR file) before ParseSkeleton checks the whole.
func NodeLinks(data []byte) (links []cid.Cid, fileSize uint64, err error) {
	n, err := decodeNode(data)
	if err != nil {
		return nil, 0, err
	}
	links = make([]cid.Cid, len(n.links))
	for i, l := range n.links {
		links[i] = l.cid
	}
	return links, n.fileSize, nil
}
