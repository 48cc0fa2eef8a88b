package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// peersFile lists peers this device has met (the inviter after a join,
// peers given to Start or Connect), so that a later run knows whom to
// dial. It is a cache, not a trust list: membership decides who gets data.
func peersFile(dir string) string { return filepath.Join(dir, "peers.json") }

// KnownPeers returns the peers this device met before, by peer ID.
func (n *Node) KnownPeers() ([]peer.AddrInfo, error) { return knownPeers(n.dir) }

// RememberPeers adds peers to those met before (replacing the addresses of
// known ones), for later runs to dial.
func (n *Node) RememberPeers(ais ...peer.AddrInfo) error { return rememberPeers(n.dir, ais...) }

func knownPeers(dir string) ([]peer.AddrInfo, error) {
	b, err := os.ReadFile(peersFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string][]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", peersFile(dir), err)
	}
	var out []peer.AddrInfo
	for id, addrs := range m {
		pid, err := peer.Decode(id)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: pid}
		for _, s := range addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		out = append(out, ai)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func rememberPeers(dir string, ais ...peer.AddrInfo) error {
	m := map[string][]string{}
	if b, err := os.ReadFile(peersFile(dir)); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	for _, ai := range ais {
		var s []string
		for _, a := range ai.Addrs {
			s = append(s, a.String())
		}
		m[ai.ID.String()] = s
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := peersFile(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, peersFile(dir))
}

// ParsePeer parses a peer's address: a multiaddr ending in /p2p/PEER-ID.
func ParsePeer(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q: %w", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q must end in /p2p/PEER-ID: %w", s, err)
	}
	return *ai, nil
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// ParsePublic parses an address this device is reachable at from anywhere
// (NetOptions.Public): an IP address that is not private or loopback, or a
// DNS name, with a TCP port or a UDP port and QUIC, and no peer ID
// (/ip4/203.0.113.5/udp/4747/quic-v1, /dns4/archive.example.org/tcp/4747).
func ParsePublic(s string) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("public address %q: %w", s, err)
	}
	if _, err := a.ValueForProtocol(ma.P_P2P); err == nil {
		return nil, fmt.Errorf("public address %q: leave out /p2p/PEER-ID (it is this device's)", s)
	}
	if isCircuit(a) {
		return nil, fmt.Errorf("public address %q: an address through a relay is not this device's own", s)
	}
	host, transport := false, false
	ma.ForEach(a, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
			host = true
		case ma.P_TCP, ma.P_QUIC_V1:
			transport = true
		}
		return true
	})
	if !host || !transport {
		return nil, fmt.Errorf("public address %q: give an IP address or DNS name and a port, as /ip4/203.0.113.5/udp/4747/quic-v1 or /dns4/archive.example.org/tcp/4747", s)
	}
	if manet.IsPrivateAddr(a) || manet.IsIPLoopback(a) || manet.IsIPUnspecified(a) {
		return nil, fmt.Errorf("public address %q is not reachable from the internet (a local, loopback or unspecified address): give the address others reach this machine at, or leave out --public", s)
	}
	return a, nil
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
