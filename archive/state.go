package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// StateVersion is the version written after the magic of an encoded State.
const StateVersion = 1

// stateMagic starts every encoded State.
const stateMagic = "fsst"

// Limits of the State decoder.
const (
	maxStatePeerIDLen = 128
	maxStateAuthors   = 1 << 16
	maxStateSigLen    = 256
)

// ErrBadState means an encoded State is malformed, of an unknown version,
// or damaged (its checksum does not match).
var ErrBadState = errors.New("archive: bad state file")

// State is what a device holds, for a bundle to be made for it: its
// project, its version vector, the complete blobs it holds and the blob
// classes it wants.
type State struct {
	Project cid.Cid
	Device  peer.ID // the device the state describes; may be empty
	Vector  Vector
	// Wants is the set of blob classes the device keeps (zero: all).
	Wants ClassSet
	// Sig is Device's signature of the state (Sign), empty if unsigned.
	Sig   []byte
	blobs map[cid.Cid]struct{}
}

// stateSigDomain prefixes the bytes a state signature covers.
const stateSigDomain = "fieldsync/state/v1\x00"

// Sign sets Device to key's peer ID and signs the state with key, so that
// the device making a bundle can check the state comes from a member.
// Changing the state afterwards voids the signature.
func (s *State) Sign(key crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("sign state: %w", err)
	}
	s.Device, s.Sig = id, nil
	body, err := s.body()
	if err != nil {
		return err
	}
	s.Sig, err = key.Sign(append([]byte(stateSigDomain), body...))
	if err != nil {
		return fmt.Errorf("sign state: %w", err)
	}
	return nil
}

// VerifySig checks that the state is signed by Device, as it stands.
func (s *State) VerifySig() error {
	if s.Device == "" || len(s.Sig) == 0 {
		return fmt.Errorf("%w: state is not signed", ErrNotMember)
	}
	pub, err := s.Device.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: state device %s: %v", ErrNotMember, s.Device, err)
	}
	body, err := s.body()
	if err != nil {
		return err
	}
	if ok, err := pub.Verify(append([]byte(stateSigDomain), body...), s.Sig); err != nil || !ok {
		return fmt.Errorf("%w: bad state signature by %s", ErrNotMember, s.Device)
	}
	return nil
}

// NewState returns a state with the given project, vector and wants, and
// no blobs.
func NewState(project cid.Cid, device peer.ID, v Vector, wants ClassSet) *State {
	return &State{Project: project, Device: device, Vector: v, Wants: wants, blobs: map[cid.Cid]struct{}{}}
}

// AddBlob records that the device holds the complete blob c. Only CIDv1
// sha2-256 raw and dag-pb CIDs (the profile's) can be held.
func (s *State) AddBlob(c cid.Cid) error {
	if chunk.CheckCID(c) != nil {
		return fmt.Errorf("state: %s is not a unixfs-v1-2025 CID", c)
	}
	if s.blobs == nil {
		s.blobs = map[cid.Cid]struct{}{}
	}
	s.blobs[c] = struct{}{}
	return nil
}

// HasBlob reports whether the device holds the complete blob c.
func (s *State) HasBlob(c cid.Cid) bool {
	_, ok := s.blobs[c]
	return ok
}

// Blobs returns the blobs held, in CID byte order.
func (s *State) Blobs() []cid.Cid {
	out := make([]cid.Cid, 0, len(s.blobs))
	for c := range s.blobs {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	return out
}

// StateOf builds the state of a device from its project and its store: the
// vector, and every complete blob of the store.
func StateOf(ctx context.Context, src Source, device peer.ID, store blob.Enumerator, wants ClassSet) (*State, error) {
	v, err := src.Vector(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := NewState(src.ProjectID(), device, v, wants)
	err = store.Enumerate(ctx, func(in blob.Info) error {
		if chunk.CheckCID(in.CID) == nil {
			st.blobs[in.CID] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return st, nil
}

// MarshalBinary encodes the state (see docs/archive.md):
//
//	"fsst" uvarint(version=1)
//	uvarint(len) project CID
//	uvarint(len) device peer ID (0: none)
//	byte wants (ClassSet bits)
//	uvarint(n) n × (uvarint(len) peer ID, uvarint(seq)), peer IDs ascending
//	uvarint(n) n × (byte codec 0x55|0x70, 32-byte sha2-256 digest), ascending
//	uvarint(len) signature by the device of "fieldsync/state/v1\x00" and
//	             all the above (0: unsigned)
//	4 bytes CRC-32C (Castagnoli) of everything before, big-endian
//
// The encoding is canonical: one state has one encoding.
func (s *State) MarshalBinary() ([]byte, error) {
	b, err := s.body()
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(s.Sig)))
	b = append(b, s.Sig...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// body encodes the state up to its signature.
func (s *State) body() ([]byte, error) {
	if !s.Project.Defined() {
		return nil, errors.New("encode state: no project")
	}
	b := []byte(stateMagic)
	b = binary.AppendUvarint(b, StateVersion)
	pb := s.Project.Bytes()
	b = binary.AppendUvarint(b, uint64(len(pb)))
	b = append(b, pb...)
	b = binary.AppendUvarint(b, uint64(len(s.Device)))
	b = append(b, s.Device...)
	b = append(b, byte(s.Wants))
	authors := make([]peer.ID, 0, len(s.Vector))
	for p, seq := range s.Vector {
		if seq > 0 {
			authors = append(authors, p)
		}
	}
	slices.Sort(authors)
	b = binary.AppendUvarint(b, uint64(len(authors)))
	for _, p := range authors {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		b = binary.AppendUvarint(b, s.Vector[p])
	}
	blobs := s.Blobs()
	b = binary.AppendUvarint(b, uint64(len(blobs)))
	for _, c := range blobs {
		b = append(b, byte(c.Prefix().Codec)) // 0x55 raw or 0x70 dag-pb
		b = append(b, c.Hash()[2:]...)
	}
	return b, nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ParseState decodes an encoded State. Anything but the canonical encoding
// of a state (wrong magic or version, bad checksum, unsorted or duplicate
// entries, trailing bytes) is an error wrapping ErrBadState.
func ParseState(b []byte) (*State, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadState, fmt.Sprintf(format, a...))
	}
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, bad("not a fieldsync state")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, bad("checksum mismatch (damaged file)")
	}
	d := body[len(stateMagic):]
	u := func(what string) (uint64, error) {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			return 0, bad("bad %s", what)
		}
		d = d[n:]
		return v, nil
	}
	take := func(what string, n uint64) ([]byte, error) {
		if n > uint64(len(d)) {
			return nil, bad("%s truncated", what)
		}
		v := d[:n]
		d = d[n:]
		return v, nil
	}
	ver, err := u("version")
	if err != nil {
		return nil, err
	}
	if ver != StateVersion {
		return nil, bad("version %d, want %d", ver, StateVersion)
	}
	n, err := u("project length")
	if err != nil {
		return nil, err
	}
	pb, err := take("project", n)
	if err != nil {
		return nil, err
	}
	k, project, err := cid.CidFromBytes(pb)
	if err != nil || k != len(pb) {
		return nil, bad("project CID")
	}
	st := NewState(project, "", Vector{}, 0)
	if n, err = u("device length"); err != nil {
		return nil, err
	}
	if n > maxStatePeerIDLen {
		return nil, bad("device ID of %d bytes", n)
	}
	db, err := take("device", n)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		if st.Device, err = peer.IDFromBytes(db); err != nil {
			return nil, bad("device ID: %v", err)
		}
	}
	w, err := take("wants", 1)
	if err != nil {
		return nil, err
	}
	st.Wants = ClassSet(w[0])
	if st.Wants&^(classBits|WithHistory|NoBlobs) != 0 {
		return nil, bad("unknown wanted classes %#x", w[0])
	}
	if n, err = u("author count"); err != nil {
		return nil, err
	}
	if n > maxStateAuthors || n > uint64(len(d))/3 {
		return nil, bad("%d authors", n)
	}
	var last peer.ID
	for i := uint64(0); i < n; i++ {
		l, err := u("author length")
		if err != nil {
			return nil, err
		}
		if l == 0 || l > maxStatePeerIDLen {
			return nil, bad("author ID of %d bytes", l)
		}
		ab, err := take("author", l)
		if err != nil {
			return nil, err
		}
		p, err := peer.IDFromBytes(ab)
		if err != nil {
			return nil, bad("author ID: %v", err)
		}
		if i > 0 && p <= last {
			return nil, bad("authors not in ascending order")
		}
		last = p
		seq, err := u("sequence")
		if err != nil {
			return nil, err
		}
		if seq == 0 {
			return nil, bad("author with sequence 0")
		}
		st.Vector[p] = seq
	}
	if n, err = u("blob count"); err != nil {
		return nil, err
	}
	if n > uint64(len(d))/33 {
		return nil, bad("%d blobs in %d bytes", n, len(d))
	}
	var prev []byte
	for i := uint64(0); i < n; i++ {
		e, _ := take("blob", 33)
		var codec uint64
		switch e[0] {
		case 0x55:
			codec = cid.Raw
		case 0x70:
			codec = cid.DagProtobuf
		default:
			return nil, bad("blob codec %#x", e[0])
		}
		if prev != nil && bytes.Compare(e, prev) <= 0 {
			return nil, bad("blobs not in ascending order")
		}
		prev = e
		m, _ := mh.Encode(e[1:], mh.SHA2_256)
		st.blobs[cid.NewCidV1(codec, m)] = struct{}{}
	}
	if n, err = u("signature length"); err != nil {
		return nil, err
	}
	if n > maxStateSigLen || n > 0 && st.Device == "" {
		return nil, bad("signature of %d bytes", n)
	}
	sig, err := take("signature", n)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		st.Sig = bytes.Clone(sig)
	}
	if len(d) != 0 {
		return nil, bad("%d trailing bytes", len(d))
	}
	if st.Sig != nil {
		if err := st.VerifySig(); err != nil {
			return nil, bad("%v", err)
		}
	}
	return st, nil
}
