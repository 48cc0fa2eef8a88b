//go:build linux

package main

// A kernel-shaped link: two network namespaces made for the bench, joined
// by a veth pair with addresses that exist only inside them
// (10.77.0.1 and 10.77.0.2), a tbf qdisc on each end for the rate. This
// kernel has no netem, so the link has no added delay. The namespaces are
// removed afterwards, also on error.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

type netns struct {
	A, B     string // namespace names: A holds the sender, B the receiver
	IPA, IPB string
	ifA, ifB string
	shape    string
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// canNetns says whether namespaces can be made here, and if not why.
func canNetns() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "not running as root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "no ip command (iproute2)"
	}
	if _, err := exec.LookPath("tc"); err != nil {
		return false, "no tc command (iproute2)"
	}
	name := fmt.Sprintf("fbprobe%d", os.Getpid())
	if err := ipCmd("netns", "add", name); err != nil {
		return false, err.Error()
	}
	_ = ipCmd("netns", "del", name)
	return true, ""
}

// setupNetns makes the two namespaces and the shaped veth between them.
// rate is tc's rate syntax (e.g. "2mbit").
func setupNetns(rate string) (*netns, error) {
	id := os.Getpid() % 100000
	n := &netns{
		A: fmt.Sprintf("fieldbench-a-%d", id), B: fmt.Sprintf("fieldbench-b-%d", id),
		IPA: "10.77.0.1", IPB: "10.77.0.2",
		ifA: fmt.Sprintf("fbva%d", id), ifB: fmt.Sprintf("fbvb%d", id),
	}
	// tbf: the rate, a 16 KB bucket, and a queue of at most 200 ms at that
	// rate (what a Wi-Fi access point's buffer might hold).
	n.shape = fmt.Sprintf("tbf rate %s burst 16kb latency 200ms", rate)
	steps := [][]string{
		{"netns", "add", n.A},
		{"netns", "add", n.B},
		{"link", "add", n.ifA, "type", "veth", "peer", "name", n.ifB},
		{"link", "set", n.ifA, "netns", n.A},
		{"link", "set", n.ifB, "netns", n.B},
		{"-n", n.A, "addr", "add", n.IPA + "/24", "dev", n.ifA},
		{"-n", n.B, "addr", "add", n.IPB + "/24", "dev", n.ifB},
		{"-n", n.A, "link", "set", "lo", "up"},
		{"-n", n.B, "link", "set", "lo", "up"},
		{"-n", n.A, "link", "set", n.ifA, "up"},
		{"-n", n.B, "link", "set", n.ifB, "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.close()
			return nil, err
		}
	}
	for _, side := range [][2]string{{n.A, n.ifA}, {n.B, n.ifB}} {
		args := append([]string{"netns", "exec", side[0], "tc", "qdisc", "add", "dev", side[1], "root"}, strings.Fields(n.shape)...)
		if err := ipCmd(args...); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

// counters returns the bytes B's end of the veth received and sent
// (whole frames: Ethernet, IP and TCP headers included).
func (n *netns) counters() (rx, tx int64, err error) {
	read := func(what string) (int64, error) {
		out, err := exec.Command("ip", "netns", "exec", n.B, "cat", "/sys/class/net/"+n.ifB+"/statistics/"+what).Output()
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	}
	if rx, err = read("rx_bytes"); err != nil {
		return 0, 0, err
	}
	tx, err = read("tx_bytes")
	return rx, tx, err
}

// close removes the namespaces (the veth pair goes with them).
func (n *netns) close() {
	_ = ipCmd("netns", "del", n.A)
	_ = ipCmd("netns", "del", n.B)
}
