package node

import (
	"context"
	"errors"
	"fmt"

	"slices"
	"strings"

	"github.com/fieldsync/fieldsync/blind"
	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/seal"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A member's side of a blind archive (issue 17, docs/protocol.md): records
// go to an archive as envelopes and come from one as envelopes, which are
// opened with the project's keyring and verified as any record; blobs go
// to it as sealed copies only (the seal records map each plain blob to its
// sealed copy), and a blob this device lacks comes from it sealed, and is
// opened, checked against its plain CID and stored.

// isArchivePeer reports whether p is one of the project's blind archives.
func isArchivePeer(p *project.Project, id peer.ID) bool {
	return p.RoleOf(id) == project.RoleArchive
}

// memberRecords is the exchange's Records of a member: spaceRecords, plus
// envelopes for and from blind archives (exchange.PeerRecords).
type memberRecords struct {
	spaceRecords
	n *Node
}

func (r memberRecords) MissingFor(ctx context.Context, to peer.ID, theirs map[peer.ID]uint64, limit int) ([][]byte, error) {
	if !isArchivePeer(r.P, to) {
		return r.Missing(ctx, theirs, limit)
	}
	kr, err := r.P.Keyring(ctx)
	if err != nil {
		return nil, err
	}
	epoch, key, ok := kr.Current()
	if !ok {
		return nil, nil // no key yet: nothing can go to an archive
	}
	rs, err := r.P.Missing(ctx, theirs, limit)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	total := 0
	for _, raw := range rs {
		env, err := blind.Enclose(raw.Author, raw.Seq, raw.Block, epoch, key)
		if err != nil {
			return nil, err
		}
		if total += len(env) + 8; total > 7<<20 && len(out) > 0 {
			break
		}
		out = append(out, env)
	}
	return out, nil
}

// Apply opens the envelopes a blind archive sends, then applies the
// records as from any peer.
func (r memberRecords) Apply(ctx context.Context, from peer.ID, blocks [][]byte) (int, error) {
	if !isArchivePeer(r.P, from) {
		return r.spaceRecords.Apply(ctx, from, blocks)
	}
	kr, err := r.P.Keyring(ctx)
	if err != nil {
		return 0, err
	}
	var plain [][]byte
	skip := map[peer.ID]bool{} // an author whose envelope did not open: its later ones would leave a gap
	for _, b := range blocks {
		e, block, err := blind.Disclose(kr, b)
		if e == nil || skip[e.Author] {
			continue
		}
		if err != nil {
			skip[e.Author] = true
			r.n.log.Warn("a blind archive's envelope does not open", "peer", from, "author", e.Author, "seq", e.Seq, "err", err)
			continue
		}
		plain = append(plain, block)
	}
	if len(plain) == 0 {
		return 0, nil
	}
	return r.spaceRecords.Apply(ctx, from, plain)
}

// memberAccess is the exchange's Access of a member, with the blind
// archive's gate: it fetches and hears of sealed copies only.
type memberAccess struct{ access }

func (a memberAccess) MayServe(id peer.ID, c cid.Cid) bool {
	if !isArchivePeer(a.p, id) {
		return true
	}
	return a.p.IsSealed(context.Background(), c)
}

// memberWants adds to what this device wants the sealed copy of each
// wanted blob it lacks and has a key for, as its alternative (Want.AltOf:
// either is enough), and lists for an archive the
// sealed copies of what this device holds.
type memberWants struct {
	wants
	n *Node
}

func (w memberWants) Wanted(ctx context.Context) ([]exchange.Want, error) {
	ws, err := w.wants.Wanted(ctx)
	if err != nil {
		return nil, err
	}
	return w.withSealed(ctx, ws)
}

// WantedSince implements exchange.WantsSince as Wanted does Wants.
func (w memberWants) WantedSince(ctx context.Context, mark int64) ([]exchange.Want, int64, error) {
	ws, next, err := w.wants.WantedSince(ctx, mark)
	if err != nil {
		return nil, 0, err
	}
	ws, err = w.withSealed(ctx, ws)
	return ws, next, err
}

// withSealed adds to ws the sealed alternatives (above).
func (w memberWants) withSealed(ctx context.Context, ws []exchange.Want) ([]exchange.Want, error) {
	if len(w.p.Archives()) == 0 {
		return ws, nil
	}
	seals, kr, err := w.n.sealsByPlain(ctx, w.p)
	if err != nil || len(seals) == 0 {
		return ws, err
	}
	out := ws
	for _, x := range ws {
		s, ok := seals[x.CID]
		if !ok {
			continue
		}
		if _, err := w.n.store.Stat(ctx, x.CID); err == nil {
			continue
		}
		if _, ok := kr.Key(s.Epoch); !ok {
			continue
		}
		// An alternative: the exchange fetches the plain blob where a
		// peer has it, the sealed copy only from peers that lack it (a
		// blind archive), never both, and counts the pair once.
		out = append(out, exchange.Want{CID: s.Sealed, Class: x.Class, Size: s.Size, ObservedAt: x.ObservedAt, AltOf: x.CID})
	}
	return out, nil
}

// NamedFor lists, for an archive, the sealed copies of the blobs the
// records name (exchange.HoldingsFor).
func (w memberWants) NamedFor(ctx context.Context, to peer.ID) ([]exchange.Want, error) {
	named, err := w.Named(ctx)
	if err != nil || !isArchivePeer(w.p, to) {
		return named, err
	}
	seals, _, err := w.n.sealsByPlain(ctx, w.p)
	if err != nil {
		return nil, err
	}
	var out []exchange.Want
	for _, x := range named {
		if s, ok := seals[x.CID]; ok {
			if _, err := w.n.store.Stat(ctx, x.CID); err != nil {
				if _, err := w.n.store.Stat(ctx, s.Sealed); err != nil {
					continue // this device holds neither: not its to upload
				}
			}
			out = append(out, exchange.Want{CID: s.Sealed, Class: x.Class, Size: s.Size, ObservedAt: x.ObservedAt})
		}
	}
	return out, nil
}

// sealsByPlain maps each plain CID to its seal entry, the newest epoch
// this device holds a key for first.
func (n *Node) sealsByPlain(ctx context.Context, p *project.Project) (map[cid.Cid]project.SealEntryAt, *seal.Keyring, error) {
	kr, err := p.Keyring(ctx)
	if err != nil {
		return nil, nil, err
	}
	es, err := p.Seals(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[cid.Cid]project.SealEntryAt, len(es))
	for _, e := range es {
		if _, ok := kr.Key(e.Epoch); !ok {
			continue
		}
		if o, ok := out[e.Plain]; !ok || e.Epoch > o.Epoch {
			out[e.Plain] = e
		}
	}
	return out, kr, nil
}

// SealForArchives seals, for the project's blind archives, every blob this
// device holds that has no seal entry under the current epoch: the sealed
// copies go into the store (as ordinary blobs, served to archives only),
// and seal records tell the archives and the other members. It returns how
// many blobs it sealed. Nothing happens in a project without an archive.
func (n *Node) SealForArchives(ctx context.Context) (int, error) {
	p, err := n.project()
	if err != nil || len(p.Archives()) == 0 || n.store == nil || !p.RoleOf(n.ID()).CanWrite() {
		return 0, err
	}
	kr, err := p.EnsureKeyring(ctx)
	if err != nil {
		return 0, err
	}
	if rec, err := p.RotateIfBlocked(ctx); err != nil {
		return 0, err
	} else if rec != nil {
		if kr, err = p.Keyring(ctx); err != nil {
			return 0, err
		}
	}
	epoch, key, ok := kr.Current()
	if !ok {
		return 0, nil
	}
	es, err := p.Seals(ctx)
	if err != nil {
		return 0, err
	}
	// A blob sealed in an earlier epoch stays under it (docs/sealing.md):
	// re-sealing gains nothing against a device that held it.
	have := map[cid.Cid]bool{}
	for _, e := range es {
		if _, ok := kr.Key(e.Epoch); ok {
			have[e.Plain] = true
		}
	}
	named, err := wants{p}.Named(ctx)
	if err != nil {
		return 0, err
	}
	var entries []project.SealEntry
	for _, w := range named {
		if have[w.CID] {
			continue
		}
		info, err := n.store.Stat(ctx, w.CID)
		if err != nil {
			continue // not held here
		}
		sealed, size, err := n.sealBlob(ctx, key, w.CID, info.Size)
		if err != nil {
			return len(entries), fmt.Errorf("seal %s: %w", w.CID, err)
		}
		have[w.CID] = true
		entries = append(entries, project.SealEntry{Plain: w.CID, Sealed: sealed, Class: w.Class, Size: size, ObservedAt: w.ObservedAt})
	}
	if len(entries) == 0 {
		return 0, nil
	}
	if err := p.WriteSeals(ctx, epoch, entries); err != nil {
		return 0, err
	}
	n.notify()
	return len(entries), nil
}

// sealBlob stores the sealed copy of plain blob c.
func (n *Node) sealBlob(ctx context.Context, key seal.Key, c cid.Cid, size int64) (cid.Cid, int64, error) {
	rc, err := n.store.Fetch(ctx, c)
	if err != nil {
		return cid.Undef, 0, err
	}
	defer rc.Close()
	info, err := n.store.Put(ctx, seal.NewSealer(key, c, size, rc), blob.Meta{})
	if err != nil {
		return cid.Undef, 0, err
	}
	return info.CID, info.Size, nil
}

// Unseal opens the sealed copies this device fetched of blobs it lacks:
// each is opened leaf by leaf, stored, checked against its plain CID, and
// the sealed copy removed. It returns how many blobs it opened.
func (n *Node) Unseal(ctx context.Context) (int, error) {
	p, err := n.project()
	if err != nil || n.store == nil || len(p.Archives()) == 0 {
		return 0, err
	}
	seals, kr, err := n.sealsByPlain(ctx, p)
	if err != nil {
		return 0, err
	}
	opened := 0
	var errs []error
	n.log.Debug("unseal", "seals", len(seals), "keys", kr.Len())
	for plain, s := range seals {
		if _, err := n.store.Stat(ctx, plain); err == nil {
			continue
		}
		info, err := n.store.Stat(ctx, s.Sealed)
		if err != nil {
			n.log.Debug("unseal: no sealed copy", "plain", plain, "sealed", s.Sealed, "err", err)
			continue
		}
		key, _ := kr.Key(s.Epoch)
		if err := n.openSealed(ctx, key, plain, s.Sealed, info.Size); err != nil {
			errs = append(errs, fmt.Errorf("open the sealed copy of %s: %w", plain, err))
			continue
		}
		opened++
		if ex, err := n.exchange(); err == nil {
			ex.Added(plain)
		}
	}
	if opened > 0 {
		n.notify()
	}
	return opened, errors.Join(errs...)
}

func (n *Node) openSealed(ctx context.Context, key seal.Key, plain, sealed cid.Cid, size int64) error {
	rc, err := n.store.Fetch(ctx, sealed)
	if err != nil {
		return err
	}
	info, err := n.store.Put(ctx, seal.NewOpener(key, plain, size, rc), blob.Meta{})
	rc.Close()
	if err != nil {
		return err
	}
	if info.CID != plain {
		// The sealed copy authenticated, so a member sealed these bytes
		// under this CID: its own copy was not what the CID says.
		_ = n.store.Remove(ctx, info.CID)
		return fmt.Errorf("opened to %s, not %s", info.CID, plain)
	}
	return n.store.Remove(ctx, sealed)
}

func (n *Node) setStartPeers(ps []peer.AddrInfo) {
	n.mu.Lock()
	n.startPeers = slices.Clone(ps)
	n.mu.Unlock()
}

// alwaysOn is the project's always-on devices (alwaysOn), and its blind
// archives where this device knows their addresses (the peers it was
// started with, or met before): an archive signs no device record, but
// what it lacks is asked as of any always-on device.
func (n *Node) alwaysOn(ctx context.Context, p *project.Project) []peer.AddrInfo {
	out := alwaysOn(ctx, p, n.ID())
	archives := p.Archives()
	if len(archives) == 0 {
		return out
	}
	n.mu.Lock()
	known := slices.Clone(n.startPeers)
	n.mu.Unlock()
	if met, err := knownPeers(n.dir); err == nil {
		known = append(known, met...)
	}
	for _, id := range archives {
		if id == n.ID() || slices.ContainsFunc(out, func(ai peer.AddrInfo) bool { return ai.ID == id }) {
			continue
		}
		for _, ai := range known {
			if ai.ID == id && len(ai.Addrs) > 0 {
				out = append(out, peer.AddrInfo{ID: id, Addrs: ai.Addrs})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b peer.AddrInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// blindChores seals what the archives lack a seal entry for, and opens the
// sealed copies fetched; it reports whether it did anything.
func (n *Node) blindChores(ctx context.Context) bool {
	if n.store == nil {
		return false
	}
	sealed, err := n.SealForArchives(ctx)
	if err != nil {
		n.log.Warn("seal blobs for the project's blind archives", "err", err)
	}
	opened, err := n.Unseal(ctx)
	if err != nil {
		n.log.Warn("open sealed copies", "err", err)
	}
	return sealed+opened > 0
}
