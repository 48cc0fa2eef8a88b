package mobile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

// report sends l the node's events and, twice a second, its progress,
// until ctx ends.
func report(ctx context.Context, n *node.Node, sub *node.Subscription, l Listener) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if b, err := json.Marshal(node.ProgressView(n.Progress())); err == nil {
				l.OnProgress(string(b))
			}
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			kind, v := eventJSON(e)
			if b, err := json.Marshal(v); err == nil {
				l.OnEvent(kind, string(b))
			}
		case <-t.C:
			if b, err := json.Marshal(node.ProgressView(n.Progress())); err == nil {
				l.OnProgress(string(b))
			}
		}
	}
}

// eventJSON is an event's kind and JSON form.
func eventJSON(e node.Event) (string, any) {
	switch e := e.(type) {
	case node.PeerEvent:
		return "peer", map[string]string{"peer": e.Peer.String(), "state": e.State.String(), "reason": e.Reason}
	case node.RecordsEvent:
		return "records", map[string]any{"from": e.From.String(), "applied": e.Applied}
	case node.BlobEvent:
		return "blob", map[string]any{"cid": e.CID.String(), "class": e.Class.String(), "size": e.Size, "from": e.From.String()}
	case node.CompleteEvent:
		return "complete", map[string]any{}
	case node.InviteEvent:
		m := map[string]string{"peer": e.Peer.String(), "role": string(e.Role)}
		if e.Err != nil {
			m["refused"] = strings.TrimPrefix(e.Err.Error(), "project: ")
		}
		return "invite", m
	case node.RoleEvent:
		return "role", map[string]string{"peer": e.Peer.String(), "from": string(e.From), "to": string(e.To)}
	case node.BadDataEvent:
		m := map[string]any{"peer": e.Peer.String(), "cid": e.CID.String(), "leaf": e.Leaf, "inbound": e.Inbound,
			"result": e.Result.String(), "detail": e.Detail, "refetch": e.Refetch}
		if e.From != "" {
			m["from"] = e.From.String()
		}
		return "bad_data", m
	case node.ObservationsEvent:
		ids := e.IDs
		if ids == nil {
			ids = []string{}
		}
		return "observations", map[string]any{"ids": ids}
	case node.SpaceEvent:
		return "space", map[string]any{"dir": e.Err.Dir, "need": e.Err.Need, "free": e.Err.Free}
	}
	return "unknown", map[string]any{}
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// decodeStrict decodes s into v, refusing unknown fields and trailing
// data, so that a typo in a field's name is an error, not a silent no-op.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

func position(p *view.Position) *project.Position {
	if p == nil {
		return nil
	}
	return &project.Position{Lat: p.Lat, Lon: p.Lon, Accuracy: p.AccuracyM}
}

func parseFilter(s string) (project.Filter, error) {
	switch s {
	case "", "archive":
		return project.Archive, nil
	case "field":
		return project.Field, nil
	}
	return project.Filter{}, fmt.Errorf("filter %q: want archive or field", s)
}

func netOptions(listen, peers string) (node.NetOptions, error) {
	opts := node.NetOptions{MDNS: true}
	for _, s := range split(listen) {
		opts.Listen = append(opts.Listen, s)
	}
	for _, s := range split(peers) {
		ai, err := node.ParsePeer(s)
		if err != nil {
			return opts, err
		}
		opts.Peers = append(opts.Peers, ai)
	}
	return opts, nil
}

func split(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// maxReadBlob bounds ReadBlob: a whole original in memory is not what a
// phone app should ask for (stream it from the data directory instead).
const maxReadBlob = 64 << 20

func readBlob(n *node.Node, s string) ([]byte, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a CID: %w", s, err)
	}
	rc, err := n.OpenBlob(context.Background(), c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(rc, maxReadBlob+1)); err != nil {
		return nil, err
	}
	if b.Len() > maxReadBlob {
		return nil, fmt.Errorf("blob %s is over %d MiB: too large to read into memory", s, maxReadBlob>>20)
	}
	return b.Bytes(), nil
}
