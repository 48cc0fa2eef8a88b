package project

import (
	"slices"
	"strings"
)

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
}
