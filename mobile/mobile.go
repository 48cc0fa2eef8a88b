// Package mobile is fieldsync's binding for phone apps: a thin layer of
// gomobile-bindable types over package node. `gobind -lang=java` (or
// `gomobile bind`) turns it into a Java/Kotlin library for Android, and
// `-lang=objc` into one for iOS; .ci/mobile-check proves in CI that it
// binds and that the generated Java compiles (docs/mobile.md).
//
// The exported surface uses only what gomobile binds: string, []byte,
// int64, bool, error, pointers to this package's structs, and interfaces
// for callbacks. Anything richer travels as JSON in the shapes of package
// view (docs/json.md): an observation, a sync's progress, the device's
// status, an event.
//
// Every method blocks until its work is done; call them off the UI
// thread. Sync and Serve run until their work ends or Stop is called, and
// report through a Listener.
package mobile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Listener receives what happens during Sync and Serve, on a goroutine of
// its own; its methods must return quickly.
type Listener interface {
	// OnEvent is called for each event: kind is peer, records, blob,
	// complete, invite, role, observations or space (the disk is full:
	// {"dir","need","free"} in bytes, free -1 if unknown); data is its
	// JSON (see docs/json.md).
	OnEvent(kind string, data string)
	// OnProgress is called about twice a second with the sync's progress
	// as JSON (view.Progress).
	OnProgress(data string)
}

// Node is one device: an open data directory.
type Node struct {
	n *node.Node

	mu     sync.Mutex
	cancel context.CancelFunc // stops the running Sync or Serve
}

// Open opens the data directory dir, creating it and the device's key if
// needed. An app keeps one Node per data directory and closes it when
// done.
func Open(dir string) (*Node, error) {
	node.UseGCPercent() // as the command: a phone has less memory to spare
	n, err := node.Init(context.Background(), dir, node.Options{})
	if err != nil {
		return nil, err
	}
	return &Node{n: n}, nil
}

// Close stops the network and closes the data directory.
func (m *Node) Close() error {
	m.Stop()
	return m.n.Close()
}

// ID is this device's peer ID.
func (m *Node) ID() string { return m.n.ID().String() }

// HasProject reports whether the device created or joined a project.
func (m *Node) HasProject() bool { return m.n.HasProject() }

// CreateProject creates a project named name with this device as its
// creator.
func (m *Node) CreateProject(name string) error {
	_, err := m.n.CreateProject(context.Background(), name)
	return err
}

// Join redeems an invite code with the inviting device (which must be
// running) and makes this device a member. filter is "archive" (every
// file), "field" (thumbnails and previews only) or "" (archive).
func (m *Node) Join(code, filter string) error {
	f, err := parseFilter(filter)
	if err != nil {
		return err
	}
	_, err = m.n.Join(context.Background(), code, node.JoinOptions{Filter: f})
	return err
}

// Invite makes a one-time invite code for role ("member" or
// "coordinator") valid for ttlSeconds (0: a day). The device must be
// serving (Serve) for the code to carry its addresses and be redeemed.
func (m *Node) Invite(role string, ttlSeconds int64) (string, error) {
	inv, err := m.invite(role, ttlSeconds)
	if err != nil {
		return "", err
	}
	return inv.Code, nil
}

// InviteJSON is Invite with both forms of the code, as JSON:
// {"code", "short", "role", "expires"}. code is the full code (text or
// QR); short is the same invite to read aloud over a radio or a phone
// (4-4-4-1 symbols), with which a device on the same local network joins
// ('fieldsync join SHORT' or Join): it finds this one by mDNS and learns
// the rest from it; expires is RFC 3339.
func (m *Node) InviteJSON(role string, ttlSeconds int64) (string, error) {
	inv, err := m.invite(role, ttlSeconds)
	if err != nil {
		return "", err
	}
	return toJSON(map[string]any{"code": inv.Code, "short": inv.Short, "role": string(inv.Role),
		"expires": inv.Expires.UTC().Format(time.RFC3339)})
}

func (m *Node) invite(role string, ttlSeconds int64) (*node.Invite, error) {
	r := project.RoleMember
	switch role {
	case "", "member":
	case "coordinator":
		r = project.RoleCoordinator
	default:
		return nil, fmt.Errorf("role %q: want member or coordinator", role)
	}
	return m.n.Invite(context.Background(), node.InviteOptions{Role: r, TTL: time.Duration(ttlSeconds) * time.Second})
}

// ImportFile makes one observation of the file at path (a photo gets its
// thumbnail and preview, its EXIF time and position) and returns its ID.
func (m *Node) ImportFile(path string) (string, error) {
	r, err := m.n.Add(context.Background(), []string{path}, node.ImportOptions{})
	if err != nil {
		return "", err
	}
	return r.Observation.ID, nil
}

// newObservation is what AddObservation takes, as JSON.
type newObservation struct {
	Files    []string       `json:"files"`
	Tags     []string       `json:"tags"`
	Notes    string         `json:"notes"`
	Position *view.Position `json:"position"`
}

// AddObservation makes one observation and returns its ID. obsJSON is
// {"files": [paths...], "tags": [...], "notes": "...", "position":
// {"lat": .., "lon": .., "accuracy_m": ..}}; files are attached (photos
// with their variants), position (optional) overrides their EXIF.
func (m *Node) AddObservation(obsJSON string) (string, error) {
	var in newObservation
	if err := decodeStrict(obsJSON, &in); err != nil {
		return "", fmt.Errorf("observation: %w", err)
	}
	if len(in.Files) == 0 {
		return "", errors.New("observation: no files: give at least one in \"files\"")
	}
	r, err := m.n.Add(context.Background(), in.Files, node.ImportOptions{Tags: in.Tags, Notes: in.Notes, Position: position(in.Position)})
	if err != nil {
		return "", err
	}
	return r.Observation.ID, nil
}

// change is what EditObservation takes, as JSON.
type change struct {
	Notes          *string        `json:"notes"`
	Tags           *[]string      `json:"tags"`
	Position       *view.Position `json:"position"`
	RemovePosition bool           `json:"remove_position"`
	AddFiles       []string       `json:"add_files"`
}

// EditObservation signs a new version of observation id. changeJSON holds
// the fields to change, the others stay: {"notes": "...", "tags": [...],
// "position": {...}, "remove_position": true, "add_files": [paths...]}.
func (m *Node) EditObservation(id, changeJSON string) error {
	var c change
	if err := decodeStrict(changeJSON, &c); err != nil {
		return fmt.Errorf("change: %w", err)
	}
	_, err := m.n.Edit(context.Background(), id, node.Edit{Notes: c.Notes, Tags: c.Tags, Position: position(c.Position),
		RemovePosition: c.RemovePosition, Add: c.AddFiles})
	return err
}

// DeleteObservation marks observation id deleted (its history is kept).
func (m *Node) DeleteObservation(id string) error {
	_, err := m.n.Delete(context.Background(), id)
	return err
}

// Observations returns up to limit observations (0: all), newest first, as
// a JSON array of view.Observation, each variant with its state here.
func (m *Node) Observations(limit int64) (string, error) {
	ctx := context.Background()
	obs, err := m.n.Observations(ctx, project.ObservationQuery{Limit: int(limit)})
	if err != nil {
		return "", err
	}
	ptrs := make([]*project.ObservationState, len(obs))
	for i := range obs {
		ptrs[i] = &obs[i]
	}
	return toJSON(m.n.Views(ctx, ptrs, false))
}

// Observation returns observation id as JSON (view.Observation).
func (m *Node) Observation(id string) (string, error) {
	ctx := context.Background()
	o, err := m.n.Observation(ctx, id)
	if err != nil {
		return "", err
	}
	return toJSON(m.n.View(ctx, o, true))
}

// ReadBlob returns the bytes of a complete blob here (a thumbnail, say)
// by its CID.
func (m *Node) ReadBlob(c string) ([]byte, error) {
	return readBlob(m.n, c)
}

// Members returns the project's devices as JSON: [{"peer", "role",
// "since"}].
func (m *Node) Members() (string, error) {
	st, err := m.n.Status(context.Background())
	if err != nil {
		return "", err
	}
	return toJSON(st.Members)
}

// Block blocks the device with peer ID id: it gets nothing more.
func (m *Node) Block(id string) error {
	pid, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("peer ID %q: %w", id, err)
	}
	return m.n.Block(context.Background(), pid)
}

// Status returns the device's status as JSON (node.Status: project,
// members, filter, wanted and present per class, partial blobs).
func (m *Node) Status() (string, error) {
	st, err := m.n.Status(context.Background())
	if err != nil {
		return "", err
	}
	return toJSON(st)
}

// Sync connects to the project's devices (peers: comma-separated
// multiaddrs ending in /p2p/ID, or "" for those met before and the local
// network), fetches what this device wants and returns when everything
// wanted is here (true) or the connected peers have nothing more (false).
// listen is a comma-separated list of multiaddrs ("" for the default).
// Stop ends it early.
func (m *Node) Sync(listen, peers string, l Listener) (bool, error) {
	opts, err := netOptions(listen, peers)
	if err != nil {
		return false, err
	}
	ctx, done := m.run(l)
	defer done()
	res, err := m.n.Sync(ctx, node.SyncOptions{NetOptions: opts})
	if err != nil {
		return false, err
	}
	return res.Complete, nil
}

// Serve runs the device as a peer until Stop: it accepts members, syncs
// with them both ways and answers invites.
func (m *Node) Serve(listen, peers string, l Listener) error {
	opts, err := netOptions(listen, peers)
	if err != nil {
		return err
	}
	ctx, done := m.run(l)
	defer done()
	return m.n.Serve(ctx, node.ServeOptions{NetOptions: opts})
}

// Addrs returns the addresses this device listens on while it syncs or
// serves, comma-separated.
func (m *Node) Addrs() string {
	var out []string
	for _, a := range m.n.Addrs() {
		out = append(out, a.String())
	}
	return strings.Join(out, ",")
}

// Stop ends a running Sync or Serve.
func (m *Node) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
}

// run starts reporting to l and returns the context that Stop cancels.
func (m *Node) run(l Listener) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	m.mu.Lock()
	if m.cancel != nil {
		m.cancel()
	}
	m.cancel = cancel
	m.mu.Unlock()
	var wg sync.WaitGroup
	if l != nil {
		sub := m.n.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			report(ctx, m.n, sub, l)
		}()
	}
	return ctx, func() {
		cancel()
		wg.Wait()
	}
}
