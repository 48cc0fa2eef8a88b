package main

import (
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/node"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestReachWords: what 'status' says of this device's reachability, for
// each state.
func TestReachWords(t *testing.T) {
	archive, err := peer.Decode("12D3KooWE6e2ZPXvL3C3ogFR2KQeDpr5SMGkyFXmGWG3bBpVgNLZ")
	if err != nil {
		t.Fatal(err)
	}
	names := map[peer.ID]string{archive: "ARCHIVE"}
	pub, nat := ma.StringCast("/ip4/203.0.113.5/udp/4747/quic-v1"), ma.StringCast("/ip4/198.51.100.7/udp/4747/quic-v1")
	for _, tc := range []struct {
		name string
		r    node.Reachability
		want string
	}{
		{"reachable", node.Reachability{Reachable: []ma.Multiaddr{pub}, Unreachable: []ma.Multiaddr{nat}},
			"This device can be reached from the internet at /ip4/203.0.113.5/udp/4747/quic-v1"},
		{"behind a NAT", node.Reachability{Unreachable: []ma.Multiaddr{nat}, Relays: []peer.ID{archive}},
			"This device is behind a NAT: other members reach it through ARCHIVE's relay"},
		{"behind a NAT, no relay", node.Reachability{Unreachable: []ma.Multiaddr{nat}},
			"This device is behind a NAT, and holds no reservation"},
		{"not known yet", node.Reachability{Unknown: []ma.Multiaddr{nat}, Relays: []peer.ID{archive}},
			"Not known yet whether this device can be reached from the internet at /ip4/198.51.100.7/udp/4747/quic-v1"},
		{"no public address", node.Reachability{},
			"Not known yet whether this device can be reached from the internet: no always-on device"},
		{"always on", node.Reachability{AlwaysOn: true, Unknown: []ma.Multiaddr{pub}},
			"This device is always on, at /ip4/203.0.113.5/udp/4747/quic-v1 as it announces"},
	} {
		if got := reachWords(tc.r, names); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q…", tc.name, got, tc.want)
		}
	}
}
