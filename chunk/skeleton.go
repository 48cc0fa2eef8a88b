package chunk

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Node is one dag-pb block of a skeleton.
type Node struct {
	CID  cid.Cid
	Data []byte
}

// Skeleton is everything about a blob but its leaf bytes: the root CID, the
// blob's size, its dag-pb nodes (root first, depth-first pre-order) and the
// ordered list of its leaves. A blob of at most ChunkSize bytes has no nodes
// and one leaf, which is the root.
type Skeleton struct {
	Root   cid.Cid
	Size   int64
	Nodes  []Node
	Leaves []Leaf
}

// SkeletonVersion is the first uvarint of a marshalled skeleton.
const SkeletonVersion = 1

// MaxDepth bounds the tree depth a parser accepts; 1024^6 leaves of 1 MiB
// is far beyond any blob.
const MaxDepth = 6

// MaxSize is the largest blob fieldsync handles: 64 GiB, 65,536 leaves.
// A skeleton may describe a huge blob in a few bytes (a disk image of
// zeros repeats one node), so the parser needs a bound on the leaves it
// lists; this one keeps a skeleton's leaf list under ~6 MB.
const MaxSize = 64 << 30

// Build lays out a blob from its leaves (CID and Size; offsets are
// recomputed) under the profile's balanced layout and returns its skeleton.
// Zero leaves describe the empty blob.
func Build(leaves []Leaf) (*Skeleton, error) {
	if int64(len(leaves)) > MaxSize/ChunkSize {
		return nil, fmt.Errorf("build skeleton: %d leaves: blobs are limited to %d bytes", len(leaves), int64(MaxSize))
	}
	s := &Skeleton{Leaves: make([]Leaf, 0, max(len(leaves), 1))}
	var off int64
	for i, l := range leaves {
		if l.Size < 0 || l.Size > ChunkSize {
			return nil, fmt.Errorf("build skeleton: leaf %d has size %d", i, l.Size)
		}
		if i < len(leaves)-1 && l.Size != ChunkSize {
			return nil, fmt.Errorf("build skeleton: leaf %d of %d has size %d, want %d", i, len(leaves), l.Size, ChunkSize)
		}
		if l.CID.Prefix().Codec != cid.Raw {
			return nil, fmt.Errorf("build skeleton: leaf %d is not a raw block", i)
		}
		s.Leaves = append(s.Leaves, Leaf{CID: l.CID, Offset: off, Size: l.Size})
		off += int64(l.Size)
	}
	s.Size = off
	switch len(leaves) {
	case 0:
		c := RawCID(nil)
		s.Root = c
		s.Leaves = append(s.Leaves, Leaf{CID: c})
		return s, nil
	case 1:
		s.Root = s.Leaves[0].CID
		return s, nil
	}
	level := make([]link, len(s.Leaves))
	for i, l := range s.Leaves {
		level[i] = link{cid: l.CID, tsize: uint64(l.Size), fileSize: uint64(l.Size)}
	}
	// children[c] lists the node CIDs below node c, for pre-order output.
	children := map[cid.Cid][]cid.Cid{}
	data := map[cid.Cid][]byte{}
	for len(level) > 1 {
		next := make([]link, 0, (len(level)+MaxLinks-1)/MaxLinks)
		for i := 0; i < len(level); i += MaxLinks {
			group := level[i:min(i+MaxLinks, len(level))]
			b := encodeNode(group)
			c := PBCID(b)
			data[c] = b
			var tsize, fsize uint64 = uint64(len(b)), 0
			for _, g := range group {
				tsize += g.tsize
				fsize += g.fileSize
				if g.cid.Prefix().Codec == cid.DagProtobuf {
					children[c] = append(children[c], g.cid)
				}
			}
			next = append(next, link{cid: c, tsize: tsize, fileSize: fsize})
		}
		level = next
	}
	s.Root = level[0].cid
	// Each distinct node once, in pre-order of its first occurrence:
	// identical subtrees (repeated content) share their nodes.
	seen := map[cid.Cid]bool{}
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		s.Nodes = append(s.Nodes, Node{CID: c, Data: data[c]})
		for _, ch := range children[c] {
			walk(ch)
		}
	}
	walk(s.Root)
	return s, nil
}

// LeafIndex returns the index of the leaf holding byte offset off.
func (s *Skeleton) LeafIndex(off int64) int { return int(off / ChunkSize) }

// MarshalBinary encodes the skeleton: uvarint version, uvarint size,
// uvarint node count, then each node as uvarint length and bytes.
func (s *Skeleton) MarshalBinary() ([]byte, error) {
	n := 0
	for _, nd := range s.Nodes {
		n += len(nd.Data) + 4
	}
	b := make([]byte, 0, n+24)
	b = binary.AppendUvarint(b, SkeletonVersion)
	b = binary.AppendUvarint(b, uint64(s.Size))
	b = binary.AppendUvarint(b, uint64(len(s.Nodes)))
	for _, nd := range s.Nodes {
		b = binary.AppendUvarint(b, uint64(len(nd.Data)))
		b = append(b, nd.Data...)
	}
	return b, nil
}

// ParseSkeleton decodes a marshalled skeleton and verifies it against root:
// every node must hash to its place in the tree, the tree must be exactly
// the profile's balanced layout for the declared size, and nothing may be
// left over. Anything else is an error wrapping ErrMalformed or
// ErrMismatch. For a raw root (a blob of at most ChunkSize bytes) the size
// cannot be checked until the leaf itself arrives and is verified.
func ParseSkeleton(root cid.Cid, b []byte) (*Skeleton, error) {
	if err := CheckCID(root); err != nil {
		return nil, err
	}
	u := func(what string) (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, fmt.Errorf("%w: bad %s", ErrMalformed, what)
		}
		b = b[k:]
		return v, nil
	}
	ver, err := u("version")
	if err != nil {
		return nil, err
	}
	if ver != SkeletonVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, ver, SkeletonVersion)
	}
	size, err := u("size")
	if err != nil {
		return nil, err
	}
	if size > MaxSize {
		return nil, fmt.Errorf("%w: size %d is more than the %d bytes a blob may have", ErrMalformed, size, int64(MaxSize))
	}
	count, err := u("node count")
	if err != nil {
		return nil, err
	}
	if count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d nodes in %d bytes", ErrMalformed, count, len(b))
	}
	if root.Prefix().Codec == cid.Raw {
		if count != 0 || len(b) != 0 {
			return nil, fmt.Errorf("%w: raw root with nodes", ErrMalformed)
		}
		if size > ChunkSize {
			return nil, fmt.Errorf("%w: raw root of %d bytes, more than one chunk", ErrMalformed, size)
		}
		return &Skeleton{Root: root, Size: int64(size), Leaves: []Leaf{{CID: root, Size: int(size)}}}, nil
	}
	nodes := make(map[cid.Cid][]byte, count)
	order := make([]cid.Cid, 0, count)
	for i := uint64(0); i < count; i++ {
		n, err := u("node length")
		if err != nil {
			return nil, err
		}
		if n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: node %d truncated", ErrMalformed, i)
		}
		data := b[:n:n]
		b = b[n:]
		c := PBCID(data)
		if _, dup := nodes[c]; dup {
			return nil, fmt.Errorf("%w: node %s twice", ErrMalformed, c)
		}
		nodes[c] = data
		order = append(order, c)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	if _, ok := nodes[root]; !ok {
		if len(order) > 0 && order[0].Prefix().Codec == cid.DagProtobuf {
			return nil, &VerifyError{Want: root, Got: order[0]}
		}
		return nil, fmt.Errorf("%w: root node %s missing", ErrMalformed, root)
	}
	s := &Skeleton{Root: root, Size: int64(size)}
	maxLeaves := int(size/ChunkSize) + 1
	visited := make(map[cid.Cid]bool, count)
	used := 0
	var off int64
	var walk func(c cid.Cid, depth int, fileSize uint64, tsize uint64) (uint64, error)
	walk = func(c cid.Cid, depth int, fileSize uint64, tsize uint64) (uint64, error) {
		if depth > MaxDepth {
			return 0, fmt.Errorf("%w: deeper than %d", ErrMalformed, MaxDepth)
		}
		if c.Prefix().Codec == cid.Raw {
			if fileSize > ChunkSize || tsize != fileSize {
				return 0, fmt.Errorf("%w: leaf %s of %d bytes (Tsize %d)", ErrMalformed, c, fileSize, tsize)
			}
			if len(s.Leaves) >= maxLeaves {
				return 0, fmt.Errorf("%w: more leaves than %d bytes hold", ErrMalformed, size)
			}
			s.Leaves = append(s.Leaves, Leaf{CID: c, Offset: off, Size: int(fileSize)})
			off += int64(fileSize)
			return fileSize, nil
		}
		data, ok := nodes[c]
		if !ok {
			return 0, fmt.Errorf("%w: node %s missing", ErrMalformed, c)
		}
		if !visited[c] {
			// A node's first occurrence must be the next one given;
			// later occurrences (repeated content) reuse it.
			if used >= len(order) || order[used] != c {
				return 0, fmt.Errorf("%w: nodes not in pre-order", ErrMalformed)
			}
			visited[c] = true
			used++
			s.Nodes = append(s.Nodes, Node{CID: c, Data: data})
		}
		n, err := decodeNode(data)
		if err != nil {
			return 0, fmt.Errorf("node %s: %w", c, err)
		}
		if depth > 0 && n.fileSize != fileSize {
			return 0, fmt.Errorf("%w: node %s holds %d bytes, parent says %d", ErrMalformed, c, n.fileSize, fileSize)
		}
		total := uint64(len(data))
		for _, l := range n.links {
			t, err := walk(l.cid, depth+1, l.fileSize, l.tsize)
			if err != nil {
				return 0, err
			}
			_ = t
			total += l.tsize
		}
		if depth > 0 && total != tsize {
			return 0, fmt.Errorf("%w: node %s Tsize %d, parent says %d", ErrMalformed, c, total, tsize)
		}
		return n.fileSize, nil
	}
	if _, err := walk(root, 0, 0, 0); err != nil {
		return nil, err
	}
	if used != len(order) {
		return nil, fmt.Errorf("%w: %d unused nodes", ErrMalformed, len(order)-used)
	}
	if off != s.Size {
		return nil, fmt.Errorf("%w: leaves hold %d bytes, size says %d", ErrMalformed, off, s.Size)
	}
	// The tree must be exactly the profile's layout: rebuild it from the
	// leaves and compare roots.
	want, err := Build(s.Leaves)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if want.Root != root {
		return nil, fmt.Errorf("%w: not the unixfs-v1-2025 layout", ErrMalformed)
	}
	return s, nil
}
