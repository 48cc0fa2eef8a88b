package project

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/thumbs"
	"github.com/fieldsync/fieldsync/track"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Limits on what a record may hold. A block over MaxRecordSize is refused
// before it is parsed.
const (
	MaxRecordSize   = 64 << 10
	maxNameLen      = 256
	maxIDLen        = 64
	maxTags         = 64
	maxTagLen       = 128
	maxNotesLen     = 16 << 10
	maxAttachments  = 64
	maxLinks        = 64
	maxMediaTypeLen = 128
	recordVersion   = 1
)

// sigDomain prefixes the bytes a record signature covers, so a record
// signature can never be replayed as any other libp2p signature.
const sigDomain = "fieldsync/record/v1\x00"

// Kind says what a record is.
type Kind string

// Record kinds, as written in the "kind" field.
const (
	KindGenesis     Kind = "genesis"
	KindMembership  Kind = "member"
	KindObservation Kind = "obs"
	KindDevice      Kind = "device"
	KindCategory    Kind = "category"
	// KindSeal maps plain blobs to their sealed copies for a blind
	// archive (seal.go).
	KindSeal Kind = "seal"
	// KindKeys gives a new key epoch's key, wrapped to each member (keys.go).
	KindKeys Kind = "keys"
)

// Role is what a device may do in a project.
type Role string

// Roles. RoleNone (the empty string) is a device the project does not know.
const (
	RoleNone        Role = ""
	RoleCreator     Role = "creator"
	RoleCoordinator Role = "coordinator"
	RoleMember      Role = "member"
	RoleBlocked     Role = "blocked"
	// RoleArchive is a blind archive: it may sync, but only sealed
	// records (envelopes) and sealed blobs; it writes nothing and holds
	// no key (seal.go, docs/trust.md).
	RoleArchive Role = "archive"
)

// CanWrite reports whether a device with role r may add observations.
func (r Role) CanWrite() bool {
	return r == RoleCreator || r == RoleCoordinator || r == RoleMember
}

// CanManage reports whether a device with role r may sign membership
// records and invites.
func (r Role) CanManage() bool { return r == RoleCreator || r == RoleCoordinator }

func (r Role) valid() bool {
	switch r {
	case RoleCreator, RoleCoordinator, RoleMember, RoleBlocked, RoleArchive:
		return true
	}
	return false
}

// AttachmentKind says what an attachment is.
type AttachmentKind string

// Attachment kinds.
const (
	AttachPhoto AttachmentKind = "photo"
	AttachAudio AttachmentKind = "audio"
	AttachVideo AttachmentKind = "video"
	AttachFile  AttachmentKind = "file"
	// AttachTrack is a GPS track: its original is the GPX file, its
	// points variant the compact points (package track).
	AttachTrack AttachmentKind = "track"
)

// VariantName names one variant of an attachment.
type VariantName string

// Variants. Only photos have a preview and a thumbnail, only tracks
// points.
const (
	VariantOriginal  VariantName = "original"
	VariantPreview   VariantName = "preview"
	VariantThumbnail VariantName = "thumbnail"
	// VariantPoints is a track's points blob (package track): what a map
	// draws. It travels in the thumbnail class, with the thumbnails.
	VariantPoints VariantName = "points"
)

// Record is one signed version in an author's log. Exactly one of Genesis,
// Membership, Observation, Device and Category is set, as Kind says. Block is the dag-cbor
// block as signed and CID its CIDv1 (dag-cbor, sha2-256); they are what
// crosses the wire and what is stored.
type Record struct {
	CID     cid.Cid
	Block   []byte
	Author  peer.ID
	Seq     uint64  // 1 for the author's first record in the project
	Prev    cid.Cid // the author's record Seq-1; cid.Undef when Seq == 1
	Project cid.Cid // the project ID; cid.Undef for the genesis itself
	Kind    Kind

	Genesis     *Genesis
	Membership  *Membership
	Observation *Observation
	Device      *Device
	Category    *Category
	Seal        *SealList
	Keys        *KeyGrant
}

// Time returns the time a record claims for itself: the genesis time, the
// membership time, an observation version's Updated time.
func (r *Record) Time() time.Time {
	switch {
	case r.Genesis != nil:
		return r.Genesis.Time
	case r.Membership != nil:
		return r.Membership.Time
	case r.Observation != nil:
		return r.Observation.Updated
	case r.Device != nil:
		return r.Device.Time
	case r.Category != nil:
		return r.Category.Time
	case r.Seal != nil:
		return r.Seal.Time
	case r.Keys != nil:
		return r.Keys.Time
	}
	return time.Time{}
}

// Device is what a device says of itself: the human name shown wherever
// it appears ("Maria's phone", "base camp laptop"). Only a device signs its
// own; the latest counts.
type Device struct {
	Name string
	Time time.Time
	// Addrs are where the device can be reached from anywhere, for an
	// always-on device (an archive on a rented server): the project's
	// devices dial it there, and hold a relay reservation with it. At
	// most 4; empty for a device without a public address.
	Addrs []ma.Multiaddr
}

// Genesis starts a project. Its author is the creator; its CID is the
// project ID.
type Genesis struct {
	Name string
	Time time.Time
}

// Membership gives Subject a role for its records after seq After (a grant
// to a new device has After 0; a block names the subject's last seq the
// signer knew, so that what the device signed before stays valid).
type Membership struct {
	Subject peer.ID
	Role    Role // coordinator, member or blocked; never creator
	After   uint64
	Time    time.Time
	Invite  []byte // the invite ID when the grant redeems an invite
}

// Observation is one version of an observation.
type Observation struct {
	ID          string // chosen by the first version's author, random
	Created     time.Time
	Updated     time.Time
	Position    *Position
	Tags        []string
	Notes       string
	Attachments []Attachment
	Links       []cid.Cid // the versions this one replaces
	Deleted     bool
	// TimeGuessed: Created is not a time the observation carried (a
	// photo's EXIF time) but a guess: the file's modification date.
	TimeGuessed bool
	// Category is the ID of the project category the observation is of
	// ("" for none), and Fields its values for that category's fields, by
	// field key. They are checked against the category when written
	// (CheckFields), never when received: a device with an older category
	// set still takes them.
	Category string
	Fields   map[string]FieldValue
}

// Position is a WGS 84 position; Accuracy (metres) is 0 when unknown.
type Position struct {
	Lat, Lon, Accuracy float64
}

// Attachment is a file attached to an observation.
type Attachment struct {
	Kind      AttachmentKind
	MediaType string
	Name      string
	Original  *Variant
	Preview   *Variant
	Thumbnail *Variant
	Points    *Variant   // tracks only
	Track     *TrackInfo // tracks only: what the points hold
}

// TrackInfo is what an observation's record says of a track attachment,
// so that it can be listed without its points.
type TrackInfo struct {
	Name             string // the GPX file's first track or route name ("" if none)
	Points, Segments int
	Start, End       time.Time  // the first and last point times; zero when the points have none
	Bounds           [4]float64 // west, south, east, north, in degrees
	Length           float64    // metres along the segments
}

// Variant is one stored form of an attachment. Width and Height are set for
// images only.
type Variant struct {
	CID    cid.Cid
	Size   int64
	Width  int
	Height int
}

// MediaTypeOf returns the media type of the attachment's variant v: the
// attachment's own for the original, JPEG for a thumbnail or preview,
// track.MediaType for a track's points.
func (a *Attachment) MediaTypeOf(v VariantName) string {
	switch v {
	case VariantOriginal:
		return a.MediaType
	case VariantPoints:
		return track.MediaType
	}
	return thumbs.VariantMediaType
}

// Variants returns the attachment's variants that are set, original first.
func (a *Attachment) Variants() []NamedVariant {
	var vs []NamedVariant
	for _, v := range []NamedVariant{{VariantOriginal, a.Original}, {VariantPreview, a.Preview}, {VariantThumbnail, a.Thumbnail}, {VariantPoints, a.Points}} {
		if v.Variant != nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// NamedVariant is a variant with its name.
type NamedVariant struct {
	Name VariantName
	*Variant
}

// The wire form. Field names are the dag-cbor map keys; the encoder sorts
// them length-first. Empty optional fields are omitted, and a block that
// carries one anyway is not canonical.

type wireRecord struct {
	V       int             `cbor:"v"`
	Kind    string          `cbor:"kind"`
	Author  []byte          `cbor:"author"`
	Seq     uint64          `cbor:"seq"`
	Prev    *link           `cbor:"prev,omitempty"`
	Project *link           `cbor:"project,omitempty"`
	Body    cbor.RawMessage `cbor:"body"`
	Sig     []byte          `cbor:"sig,omitempty"`
}

type wireGenesis struct {
	Name string `cbor:"name"`
	Time int64  `cbor:"time"`
}

type wireMembership struct {
	Subject []byte `cbor:"subject"`
	Role    string `cbor:"role"`
	After   uint64 `cbor:"after"`
	Time    int64  `cbor:"time"`
	Invite  []byte `cbor:"invite,omitempty"`
}

type wireObservation struct {
	ID      string                `cbor:"id"`
	Created int64                 `cbor:"created"`
	Updated int64                 `cbor:"updated"`
	Pos     *wirePosition         `cbor:"pos,omitempty"`
	Tags    []string              `cbor:"tags,omitempty"`
	Notes   string                `cbor:"notes,omitempty"`
	Attach  []wireAttachment      `cbor:"attach,omitempty"`
	Links   []link                `cbor:"links,omitempty"`
	Deleted bool                  `cbor:"deleted,omitempty"`
	Guessed bool                  `cbor:"tguess,omitempty"`
	Cat     string                `cbor:"cat,omitempty"`
	Fields  map[string]FieldValue `cbor:"fields,omitempty"`
}

type wireDevice struct {
	Name  string   `cbor:"name"`
	Time  int64    `cbor:"time"`
	Addrs [][]byte `cbor:"addrs,omitempty"`
}

type wirePosition struct {
	Lat float64 `cbor:"lat"`
	Lon float64 `cbor:"lon"`
	Acc float64 `cbor:"acc,omitempty"`
}

type wireAttachment struct {
	Kind     string       `cbor:"kind"`
	Type     string       `cbor:"type"`
	Name     string       `cbor:"name,omitempty"`
	Variants wireVariants `cbor:"variants"`
	Track    *wireTrack   `cbor:"track,omitempty"`
}

type wireVariants struct {
	Original  *wireVariant `cbor:"original,omitempty"`
	Preview   *wireVariant `cbor:"preview,omitempty"`
	Thumbnail *wireVariant `cbor:"thumbnail,omitempty"`
	Points    *wireVariant `cbor:"points,omitempty"`
}

type wireTrack struct {
	N     uint64     `cbor:"n"`
	Len   float64    `cbor:"len,omitempty"`
	End   int64      `cbor:"end,omitempty"`
	BBox  [4]float64 `cbor:"bbox"`
	Name  string     `cbor:"name,omitempty"`
	Segs  uint64     `cbor:"segs"`
	Start int64      `cbor:"start,omitempty"`
}

type wireVariant struct {
	CID    link  `cbor:"cid"`
	Size   int64 `cbor:"size"`
	Width  int   `cbor:"w,omitempty"`
	Height int   `cbor:"h,omitempty"`
}

// Errors about a single record. Apply reports them per record, wrapped so
// that errors.Is works.
var (
	ErrMalformed     = errors.New("project: malformed record")
	ErrBadSignature  = errors.New("project: bad signature")
	ErrWrongProject  = errors.New("project: record of another project")
	ErrGap           = errors.New("project: gap in author's log")
	ErrPrevMismatch  = errors.New("project: previous CID does not match author's log")
	ErrNotMember     = errors.New("project: author is not a member")
	ErrBlocked       = errors.New("project: author is blocked")
	ErrNotAuthorized = errors.New("project: author may not change membership or categories")
	ErrEquivocation  = errors.New("project: author signed two records with the same seq")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// newRecord fills, encodes and signs a record for author id.
func newRecord(id *Identity, project cid.Cid, seq uint64, prev cid.Cid, body any) (*Record, error) {
	r := &Record{Author: id.PeerID(), Seq: seq, Prev: prev, Project: project}
	switch b := body.(type) {
	case *Genesis:
		r.Kind, r.Genesis = KindGenesis, b
	case *Membership:
		r.Kind, r.Membership = KindMembership, b
	case *Observation:
		r.Kind, r.Observation = KindObservation, b
	case *Device:
		r.Kind, r.Device = KindDevice, b
	case *Category:
		r.Kind, r.Category = KindCategory, b
	case *SealList:
		r.Kind, r.Seal = KindSeal, b
	case *KeyGrant:
		r.Kind, r.Keys = KindKeys, b
	default:
		return nil, fmt.Errorf("new record: unknown body %T", body)
	}
	if err := validateRecord(r); err != nil {
		return nil, err
	}
	wb, err := encodeBody(r)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	w := wireRecord{V: recordVersion, Kind: string(r.Kind), Author: []byte(r.Author), Seq: seq,
		Prev: linkOf(prev), Project: linkOf(project), Body: wb}
	unsigned, err := encMode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	w.Sig, err = id.sign(append([]byte(sigDomain), unsigned...))
	if err != nil {
		return nil, fmt.Errorf("sign record: %w", err)
	}
	r.Block, err = encMode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if len(r.Block) > MaxRecordSize {
		// Peers would refuse it: never sign what cannot travel.
		return nil, malformed("%d bytes, over the %d limit", len(r.Block), MaxRecordSize)
	}
	r.CID = blockCID(r.Block)
	return r, nil
}

func encodeBody(r *Record) (cbor.RawMessage, error) {
	switch r.Kind {
	case KindGenesis:
		g := r.Genesis
		return encMode.Marshal(&wireGenesis{Name: g.Name, Time: ms(g.Time)})
	case KindMembership:
		m := r.Membership
		return encMode.Marshal(&wireMembership{Subject: []byte(m.Subject), Role: string(m.Role), After: m.After, Time: ms(m.Time), Invite: m.Invite})
	case KindObservation:
		return encMode.Marshal(toWireObservation(r.Observation))
	case KindDevice:
		w := &wireDevice{Name: r.Device.Name, Time: ms(r.Device.Time)}
		for _, a := range r.Device.Addrs {
			w.Addrs = append(w.Addrs, a.Bytes())
		}
		return encMode.Marshal(w)
	case KindCategory:
		return encMode.Marshal(toWireCategory(r.Category))
	case KindSeal:
		return encMode.Marshal(toWireSeal(r.Seal))
	case KindKeys:
		return encMode.Marshal(toWireKeys(r.Keys))
	}
	return nil, fmt.Errorf("unknown kind %q", r.Kind)
}

func toWireObservation(o *Observation) *wireObservation {
	w := &wireObservation{ID: o.ID, Created: ms(o.Created), Updated: ms(o.Updated),
		Tags: o.Tags, Notes: o.Notes, Deleted: o.Deleted, Guessed: o.TimeGuessed, Cat: o.Category}
	if len(o.Fields) > 0 {
		w.Fields = o.Fields
	}
	if p := o.Position; p != nil {
		w.Pos = &wirePosition{Lat: p.Lat, Lon: p.Lon, Acc: p.Accuracy}
	}
	for _, a := range o.Attachments {
		w.Attach = append(w.Attach, wireAttachment{Kind: string(a.Kind), Type: a.MediaType, Name: a.Name,
			Variants: wireVariants{Original: toWireVariant(a.Original), Preview: toWireVariant(a.Preview), Thumbnail: toWireVariant(a.Thumbnail),
				Points: toWireVariant(a.Points)},
			Track: toWireTrack(a.Track)})
	}
	for _, l := range o.Links {
		w.Links = append(w.Links, link{l})
	}
	return w
}

func toWireTrack(t *TrackInfo) *wireTrack {
	if t == nil {
		return nil
	}
	w := &wireTrack{N: uint64(t.Points), Segs: uint64(t.Segments), Len: t.Length, BBox: t.Bounds, Name: t.Name}
	if !t.Start.IsZero() {
		w.Start = ms(t.Start)
	}
	if !t.End.IsZero() {
		w.End = ms(t.End)
	}
	return w
}

func fromWireTrack(w *wireTrack) *TrackInfo {
	if w == nil {
		return nil
	}
	t := &TrackInfo{Name: w.Name, Points: int(min(w.N, math.MaxInt32)), Segments: int(min(w.Segs, math.MaxInt32)), Length: w.Len, Bounds: w.BBox}
	if w.Start != 0 {
		t.Start = fromMS(w.Start)
	}
	if w.End != 0 {
		t.End = fromMS(w.End)
	}
	return t
}

func toWireVariant(v *Variant) *wireVariant {
	if v == nil {
		return nil
	}
	return &wireVariant{CID: link{v.CID}, Size: v.Size, Width: v.Width, Height: v.Height}
}

func fromWireVariant(v *wireVariant) *Variant {
	if v == nil {
		return nil
	}
	return &Variant{CID: v.CID.c, Size: v.Size, Width: v.Width, Height: v.Height}
}

// DecodeRecord parses a block, checks that it is canonical dag-cbor and
// well formed, and verifies its signature against its author's key. It does
// not check the record against any log or project: Apply does.
func DecodeRecord(block []byte) (*Record, error) {
	return decodeRecord(block, true)
}

func decodeRecord(block []byte, verify bool) (*Record, error) {
	if len(block) > MaxRecordSize {
		return nil, malformed("%d bytes, over the %d limit", len(block), MaxRecordSize)
	}
	var w wireRecord
	if err := decodeStrict(block, &w); err != nil {
		return nil, malformed("%v", err)
	}
	if w.V != recordVersion {
		return nil, malformed("version %d", w.V)
	}
	author, err := peer.IDFromBytes(w.Author)
	if err != nil {
		return nil, malformed("author: %v", err)
	}
	pub, err := author.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return nil, malformed("author is not an Ed25519 peer ID")
	}
	r := &Record{Block: block, Author: author, Seq: w.Seq, Prev: w.Prev.cid(), Project: w.Project.cid(), Kind: Kind(w.Kind)}
	switch r.Kind {
	case KindGenesis:
		var b wireGenesis
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("genesis: %v", err)
		}
		r.Genesis = &Genesis{Name: b.Name, Time: fromMS(b.Time)}
	case KindMembership:
		var b wireMembership
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("membership: %v", err)
		}
		subj, err := peer.IDFromBytes(b.Subject)
		if err != nil {
			return nil, malformed("membership subject: %v", err)
		}
		r.Membership = &Membership{Subject: subj, Role: Role(b.Role), After: b.After, Time: fromMS(b.Time), Invite: b.Invite}
	case KindObservation:
		var b wireObservation
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("observation: %v", err)
		}
		o := &Observation{ID: b.ID, Created: fromMS(b.Created), Updated: fromMS(b.Updated), Tags: b.Tags, Notes: b.Notes, Deleted: b.Deleted, TimeGuessed: b.Guessed,
			Category: b.Cat, Fields: b.Fields}
		if b.Pos != nil {
			o.Position = &Position{Lat: b.Pos.Lat, Lon: b.Pos.Lon, Accuracy: b.Pos.Acc}
		}
		for _, a := range b.Attach {
			o.Attachments = append(o.Attachments, Attachment{Kind: AttachmentKind(a.Kind), MediaType: a.Type, Name: a.Name,
				Original: fromWireVariant(a.Variants.Original), Preview: fromWireVariant(a.Variants.Preview), Thumbnail: fromWireVariant(a.Variants.Thumbnail),
				Points: fromWireVariant(a.Variants.Points), Track: fromWireTrack(a.Track)})
		}
		for _, l := range b.Links {
			o.Links = append(o.Links, l.c)
		}
		r.Observation = o
	case KindDevice:
		var b wireDevice
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("device: %v", err)
		}
		r.Device = &Device{Name: b.Name, Time: fromMS(b.Time)}
		if len(b.Addrs) > maxDeviceAddrs {
			return nil, malformed("device: %d addresses, at most %d", len(b.Addrs), maxDeviceAddrs)
		}
		for _, ab := range b.Addrs {
			a, err := ma.NewMultiaddrBytes(ab)
			if err != nil || len(ab) > maxAddrLen || !bytes.Equal(a.Bytes(), ab) {
				return nil, malformed("device: address")
			}
			r.Device.Addrs = append(r.Device.Addrs, a)
		}
	case KindCategory:
		var b wireCategory
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("category: %v", err)
		}
		r.Category = fromWireCategory(&b)
	case KindSeal:
		var b wireSeal
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("seal: %v", err)
		}
		if r.Seal, err = fromWireSeal(&b); err != nil {
			return nil, err
		}
	case KindKeys:
		var b wireKeys
		if err := decodeStrict(w.Body, &b); err != nil {
			return nil, malformed("keys: %v", err)
		}
		if r.Keys, err = fromWireKeys(&b); err != nil {
			return nil, err
		}
	default:
		return nil, malformed("unknown kind %q", w.Kind)
	}
	if err := validateRecord(r); err != nil {
		return nil, err
	}
	if len(w.Sig) != 64 {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(w.Sig))
	}
	if verify {
		sig := w.Sig
		w.Sig = nil
		unsigned, err := encMode.Marshal(&w)
		if err != nil {
			return nil, malformed("%v", err)
		}
		raw, err := pub.Raw()
		if err != nil || !verifySig(raw, append([]byte(sigDomain), unsigned...), sig) {
			return nil, ErrBadSignature
		}
	}
	r.CID = blockCID(block)
	return r, nil
}

func validText(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s)
}

// maxDeviceAddrs is the most addresses a device record carries.
const maxDeviceAddrs = 4

// maxDeviceName is the longest device name, in bytes.
const maxDeviceName = 64

func validDeviceName(s string) bool {
	return s != "" && validText(s, maxDeviceName) && !strings.ContainsFunc(s, unicode.IsControl)
}

func validPeer(p peer.ID) bool {
	pub, err := p.ExtractPublicKey()
	return err == nil && pub.Type() == crypto.Ed25519
}

// validateRecord checks everything about a record that does not depend on
// other records.
func validateRecord(r *Record) error {
	if r.Seq == 0 {
		return malformed("seq 0")
	}
	if (r.Seq == 1) == r.Prev.Defined() {
		return malformed("seq %d with prev %v", r.Seq, r.Prev)
	}
	if r.Kind == KindGenesis {
		if r.Seq != 1 || r.Project.Defined() {
			return malformed("genesis must be seq 1 without a project")
		}
	} else if !r.Project.Defined() {
		return malformed("no project")
	}
	for _, c := range []cid.Cid{r.Prev, r.Project} {
		if c.Defined() && (c.Version() != 1 || c.Type() != codecDagCBOR) {
			return malformed("link %v is not a dag-cbor CIDv1", c)
		}
	}
	switch r.Kind {
	case KindGenesis:
		g := r.Genesis
		if g == nil || g.Name == "" || !validText(g.Name, maxNameLen) {
			return malformed("genesis name")
		}
	case KindMembership:
		m := r.Membership
		if m == nil || !validPeer(m.Subject) {
			return malformed("membership subject")
		}
		if m.Role != RoleCoordinator && m.Role != RoleMember && m.Role != RoleBlocked && m.Role != RoleArchive {
			return malformed("membership role %q", m.Role)
		}
		if len(m.Invite) > 32 {
			return malformed("invite ID of %d bytes", len(m.Invite))
		}
		if m.Subject == r.Author {
			return malformed("membership about its own author")
		}
	case KindObservation:
		return validateObservation(r.Observation)
	case KindDevice:
		if d := r.Device; d == nil || !validDeviceName(d.Name) {
			return malformed("device name")
		}
		if len(r.Device.Addrs) > maxDeviceAddrs {
			return malformed("device: %d addresses, at most %d", len(r.Device.Addrs), maxDeviceAddrs)
		}
		for _, a := range r.Device.Addrs {
			if a == nil || len(a.Bytes()) > maxAddrLen {
				return malformed("device: address %v", a)
			}
		}
	case KindCategory:
		return validateCategory(r.Category)
	case KindSeal:
		return validateSeal(r.Seal)
	case KindKeys:
		return validateKeys(r.Keys)
	default:
		return malformed("unknown kind %q", r.Kind)
	}
	return nil
}

// Validate reports, as an error wrapping ErrMalformed, what in o's content
// (ID, position, tags, notes, attachments, links) an observation record
// would refuse, without signing or storing anything: for callers that
// must refuse bad input before work it would waste (package ingest checks
// tags, notes and position before storing any blob).
func (o *Observation) Validate() error { return validateObservation(o) }

func validateObservation(o *Observation) error {
	if o == nil || o.ID == "" || !validText(o.ID, maxIDLen) {
		return malformed("observation id")
	}
	if p := o.Position; p != nil {
		if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || math.IsNaN(p.Accuracy) ||
			p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || p.Accuracy < 0 || math.IsInf(p.Accuracy, 0) {
			return malformed("position %v", *p)
		}
	}
	if len(o.Tags) > maxTags {
		return malformed("%d tags", len(o.Tags))
	}
	for _, t := range o.Tags {
		if t == "" || !validText(t, maxTagLen) {
			return malformed("tag %q", t)
		}
	}
	if !validText(o.Notes, maxNotesLen) {
		return malformed("notes")
	}
	if len(o.Attachments) > maxAttachments {
		return malformed("%d attachments", len(o.Attachments))
	}
	for _, a := range o.Attachments {
		switch a.Kind {
		case AttachPhoto, AttachAudio, AttachVideo, AttachFile, AttachTrack:
		default:
			return malformed("attachment kind %q", a.Kind)
		}
		if err := validateTrack(&a); err != nil {
			return err
		}
		if a.MediaType == "" || !validText(a.MediaType, maxMediaTypeLen) || !validText(a.Name, maxNameLen) {
			return malformed("attachment type or name")
		}
		vs := a.Variants()
		if len(vs) == 0 {
			return malformed("attachment without variants")
		}
		for _, v := range vs {
			if !v.CID.Defined() || v.Size < 0 || v.Width < 0 || v.Height < 0 {
				return malformed("attachment variant %s", v.Name)
			}
		}
	}
	if len(o.Links) > maxLinks {
		return malformed("%d links", len(o.Links))
	}
	for _, l := range o.Links {
		if !l.Defined() {
			return malformed("undefined link")
		}
	}
	if slices.ContainsFunc(o.Links, func(c cid.Cid) bool { return c.Type() != codecDagCBOR }) {
		return malformed("link to a non-record CID")
	}
	return validateFieldValues(o)
}
