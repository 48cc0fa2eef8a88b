package node

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/fieldsync/fieldsync/blind"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A data directory that joined a project with an archive invite
// (`fieldsync invite --blind`) is a blind archive: it holds the project's
// records as envelopes and its blobs sealed (package blind), with no key.
// It serves, reports what it holds, verifies its store by hash and lists
// the members; everything that would read the project refuses with
// ErrBlind.

// ErrBlind: this data directory is a blind archive.
var ErrBlind = blind.ErrBlind

// IsBlind reports whether this device is a project's blind archive.
func (n *Node) IsBlind() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.arch != nil
}

func (n *Node) archive() *blind.Archive {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.arch
}

// openBlind opens the blind archive in the node's database, if it holds one.
func (n *Node) openBlind(ctx context.Context) error {
	if !blind.IsArchive(ctx, n.db) {
		return nil
	}
	a, err := blind.Open(ctx, n.db, n.ID())
	if err != nil {
		return fmt.Errorf("node: open blind archive: %w", err)
	}
	n.mu.Lock()
	n.arch = a
	n.mu.Unlock()
	return nil
}

// joinBlind makes this device the blind archive the welcome describes.
func (n *Node) joinBlind(ctx context.Context, w *project.Welcome, inviter peer.AddrInfo) (ProjectInfo, error) {
	a, err := blind.Create(ctx, n.db, n.ID(), w)
	if err != nil {
		return ProjectInfo{}, err
	}
	_ = rememberPeers(n.dir, inviter)
	n.mu.Lock()
	n.arch = a
	n.mu.Unlock()
	return ProjectInfo{ID: a.Project().String(), Creator: a.Creator(), Role: project.RoleArchive}, nil
}

// startBlind starts the network of a blind archive.
func (n *Node) startBlind(ctx context.Context, a *blind.Archive, opts NetOptions) error {
	if err := n.needStore(); err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("node: closed")
	}
	if n.ex != nil {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	ex, err := exchange.New(exchange.Config{
		Key:           n.self.PrivKey(),
		ListenAddrs:   opts.Listen,
		ProjectID:     a.Project().String(),
		Store:         n.store,
		Access:        a,
		Records:       a,
		Wants:         a,
		Filter:        exchange.FilterArchive,
		MDNS:          opts.MDNS,
		Logger:        n.log,
		Relay:         len(opts.Public) > 0,
		AnnounceAddrs: opts.Public,
		HostOptions:   opts.HostOptions,
	})
	if err != nil {
		return fmt.Errorf("node: start network: %w", err)
	}
	n.beginRun(ctx)
	mark := n.fixityMark(ctx)
	done, stop := make(chan struct{}), make(chan struct{})
	n.pumped.Store(0)
	go n.pump(ex.Events(), done, stop)
	if err := ex.Start(ctx); err != nil {
		close(stop)
		ex.Close()
		<-done
		return fmt.Errorf("node: start network: %w", err)
	}
	n.mu.Lock()
	if n.closed || n.ex != nil {
		n.mu.Unlock()
		close(stop)
		ex.Close()
		<-done
		return nil
	}
	n.ex, n.exDone, n.exStop = ex, done, stop
	n.mu.Unlock()
	go n.watchFixity(ex, mark, stop)
	peers := opts.Peers
	if peers == nil {
		peers, _ = knownPeers(n.dir)
	}
	for _, ai := range peers {
		if ai.ID == n.ID() {
			continue
		}
		go func(ai peer.AddrInfo) {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = ex.Connect(cctx, ai)
		}(ai)
	}
	return nil
}

// BlindStatus is what a blind archive holds: counts and sizes only (it
// cannot read more), and the members as the clear membership records say.
type BlindStatus struct {
	Project string        `json:"project"`
	Creator peer.ID       `json:"creator"`
	Stats   *blind.Stats  `json:"holds"`
	Members []BlindMember `json:"members"`
}

// BlindMember is a device with a role, as a blind archive knows it.
type BlindMember struct {
	Peer peer.ID      `json:"peer"`
	Role project.Role `json:"role"`
}

// BlindStatus reports what this blind archive holds (ErrNoProject if it is
// not one).
func (n *Node) BlindStatus(ctx context.Context) (*BlindStatus, error) {
	a := n.archive()
	if a == nil {
		return nil, ErrNoProject
	}
	has := n.Presence(ctx, true)
	st, err := a.Stats(ctx, func(c cid.Cid) bool { ok, _ := has(c); return ok })
	if err != nil {
		return nil, err
	}
	out := &BlindStatus{Project: a.Project().String(), Creator: a.Creator(), Stats: st}
	for _, m := range st.Members {
		out.Members = append(out.Members, BlindMember{Peer: m.Peer, Role: m.Role})
	}
	return out, nil
}
