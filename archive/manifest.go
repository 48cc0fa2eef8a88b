package archive

import (
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/internal/dagcbor"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Manifest kinds.
const (
	KindExport = "export" // an archival export (Export)
	KindBundle = "bundle" // a sneakernet bundle (ExportAll, ExportFor)
)

// manifestType marks a fieldsync manifest block.
const manifestType = "fieldsync/car"

// manifestSigDomain prefixes the bytes a manifest signature covers, so it
// can never be replayed as a record or any other libp2p signature.
const manifestSigDomain = "fieldsync/car-manifest/v1\x00"

// codecDagCBOR is the multicodec of dag-cbor blocks.
const codecDagCBOR = dagcbor.Codec

// Errors about a CAR's manifest.
var (
	// ErrOtherProject means the CAR or state belongs to another project.
	ErrOtherProject = errors.New("archive: another project")
	// ErrNotMember means a bundle is unsigned, badly signed, or signed by
	// a device that is not a member of the project (or is blocked).
	ErrNotMember = errors.New("archive: not from a project member")
	// ErrUnknownDevice is what Sink.CheckMember wraps for a device the
	// project does not know at all.
	ErrUnknownDevice = errors.New("archive: unknown device")
	// ErrNoManifest means a bundle does not start with its manifest.
	ErrNoManifest = errors.New("archive: no fieldsync manifest")
)

// Manifest is the first block of every CAR this package writes, and its
// first root: a small dag-cbor map saying what the file is.
type Manifest struct {
	Kind     string  // KindExport or KindBundle
	Project  cid.Cid // the project ID
	Part     int     // 1 for the first (or only) file of a split bundle
	Created  time.Time
	Exporter string  // the software that wrote it
	From     peer.ID // the device that signed it; empty if unsigned
	Sig      []byte  // From's signature; empty if unsigned
}

type wireManifest struct {
	V        int    `cbor:"v"`
	Sig      []byte `cbor:"sig,omitempty"`
	Kind     string `cbor:"kind"`
	Part     int    `cbor:"part"`
	From     []byte `cbor:"from,omitempty"`
	Type     string `cbor:"type"`
	Created  int64  `cbor:"created"`
	Project  string `cbor:"project"`
	Exporter string `cbor:"exporter"`
}

var (
	manEncMode cbor.EncMode
	manDecMode cbor.DecMode
)

func init() {
	var err error
	manEncMode, err = cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		ShortestFloat: cbor.ShortestFloatNone,
		IndefLength:   cbor.IndefLengthForbidden,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	manDecMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   4,
		MaxMapPairs:       32,
		MaxArrayElements:  16,
		IntDec:            cbor.IntDecConvertNone,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

func (m *Manifest) wire(withSig bool) *wireManifest {
	w := &wireManifest{
		V:        1,
		Type:     manifestType,
		Kind:     m.Kind,
		Part:     m.Part,
		Project:  m.Project.String(),
		Created:  m.Created.UnixMilli(),
		Exporter: m.Exporter,
	}
	if m.From != "" {
		w.From = []byte(m.From)
	}
	if withSig {
		w.Sig = m.Sig
	}
	return w
}

// sign sets From and Sig with key (nil: unsigned).
func (m *Manifest) sign(key crypto.PrivKey) error {
	if key == nil {
		m.From, m.Sig = "", nil
		return nil
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	m.From = id
	msg, err := m.signedBytes()
	if err != nil {
		return err
	}
	m.Sig, err = key.Sign(msg)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	return nil
}

func (m *Manifest) signedBytes() ([]byte, error) {
	b, err := manEncMode.Marshal(m.wire(false))
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append([]byte(manifestSigDomain), b...), nil
}

// verifySig checks Sig against From's public key (embedded in an Ed25519
// peer ID).
func (m *Manifest) verifySig() error {
	if m.From == "" || len(m.Sig) == 0 {
		return fmt.Errorf("%w: manifest is not signed", ErrNotMember)
	}
	pub, err := m.From.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: signer %s: %v", ErrNotMember, m.From, err)
	}
	msg, err := m.signedBytes()
	if err != nil {
		return err
	}
	ok, err := pub.Verify(msg, m.Sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: bad manifest signature by %s", ErrNotMember, m.From)
	}
	return nil
}

// block encodes the manifest as a dag-cbor block.
func (m *Manifest) block() (Block, error) {
	b, err := manEncMode.Marshal(m.wire(true))
	if err != nil {
		return Block{}, fmt.Errorf("encode manifest: %w", err)
	}
	return Block{CID: cborCID(b), Data: b}, nil
}

// decodeManifest decodes a manifest block; it must be in the one encoding
// this package writes.
func decodeManifest(b []byte) (*Manifest, error) {
	var w wireManifest
	rest, err := manDecMode.UnmarshalFirst(b, &w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoManifest, err)
	}
	if len(rest) != 0 || w.V != 1 || w.Type != manifestType {
		return nil, fmt.Errorf("%w: not a version 1 manifest", ErrNoManifest)
	}
	again, err := manEncMode.Marshal(&w)
	if err != nil || string(again) != string(b) {
		return nil, fmt.Errorf("%w: manifest not canonical", ErrNoManifest)
	}
	p, err := cid.Decode(w.Project)
	if err != nil {
		return nil, fmt.Errorf("%w: project: %v", ErrNoManifest, err)
	}
	m := &Manifest{Kind: w.Kind, Project: p, Part: w.Part, Created: time.UnixMilli(w.Created).UTC(), Exporter: w.Exporter, Sig: w.Sig}
	if len(w.From) > 0 {
		id, err := peer.IDFromBytes(w.From)
		if err != nil {
			return nil, fmt.Errorf("%w: from: %v", ErrNoManifest, err)
		}
		m.From = id
	}
	return m, nil
}

// cborCID returns the CIDv1 (dag-cbor, sha2-256) of b.
func cborCID(b []byte) cid.Cid { return dagcbor.CID(b) }
