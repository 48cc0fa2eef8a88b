package node

import (
	"strings"
	"testing"
)

func TestParsePublic(t *testing.T) {
	for _, s := range []string{
		"/ip4/203.0.113.5/udp/4747/quic-v1",
		"/ip4/203.0.113.5/tcp/4747",
		"/ip6/2001:db8::5/tcp/4747",
		"/dns4/archive.example.org/tcp/4747",
	} {
		if _, err := ParsePublic(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"":                                   "public address",
		"not an address":                     "public address",
		"/ip4/127.0.0.1/tcp/4747":            "not reachable from the internet",
		"/ip4/192.168.1.20/udp/4747/quic-v1": "not reachable from the internet",
		"/ip4/0.0.0.0/tcp/4747":              "not reachable from the internet",
		"/ip4/203.0.113.5":                   "give an IP address or DNS name and a port",
		"/ip4/203.0.113.5/tcp/4747/p2p/12D3KooWGS2rPQQmYUyn6MpBMTiUCJoFM8NkiubLEEJttcWLKepV":             "leave out /p2p/PEER-ID",
		"/ip4/203.0.113.5/tcp/4747/p2p/12D3KooWGS2rPQQmYUyn6MpBMTiUCJoFM8NkiubLEEJttcWLKepV/p2p-circuit": "leave out /p2p/PEER-ID",
	} {
		if _, err := ParsePublic(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", s, err, want)
		}
	}
}

func FuzzParsePublic(f *testing.F) {
	f.Add("/ip4/203.0.113.5/udp/4747/quic-v1")
	f.Add("/dns4/a.example/tcp/1")
	f.Add("/ip4/10.0.0.1/tcp/1")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParsePublic(s)
		if err != nil {
			return
		}
		// What it accepts, it accepts again written out.
		if b, err := ParsePublic(a.String()); err != nil || !b.Equal(a) {
			t.Fatalf("%q parsed as %s, which gives %v, %v", s, a, b, err)
		}
	})
}
