package node

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

// manyViews is the number of observations past which Views lists the
// store once instead of asking per blob.
const manyViews = 16

// Views returns the JSON documents (package view) of obs, each variant
// with its state on this device: present, partial (with the percentage of
// its bytes verified) or absent; with fixity, each present variant's last
// fixity check too.
func (n *Node) Views(ctx context.Context, obs []*project.ObservationState, fixity bool) []view.Observation {
	has := n.Presence(ctx, len(obs) > manyViews)
	out := make([]view.Observation, len(obs))
	for i, o := range obs {
		j := o.JSON()
		for k := range j.Attachments {
			a := &j.Attachments[k]
			for _, v := range []*view.Variant{a.Original, a.Preview, a.Thumbnail, a.Points} {
				if v != nil {
					n.fillVariant(ctx, v, has, fixity)
				}
			}
		}
		out[i] = j
	}
	n.nameCategories(ctx, out)
	return out
}

// View is Views of one observation.
func (n *Node) View(ctx context.Context, o *project.ObservationState, fixity bool) view.Observation {
	return n.Views(ctx, []*project.ObservationState{o}, fixity)[0]
}

func (n *Node) fillVariant(ctx context.Context, v *view.Variant, has func(cid.Cid) (bool, bool), fixity bool) {
	c, err := cid.Decode(v.CID)
	if err != nil {
		return
	}
	here, known := has(c)
	switch {
	case !known:
		return
	case here:
		v.State = "present"
		if fixity {
			if h, err := n.blobs().FixityHistory(ctx, c); err == nil {
				if last, ok := blob.LastCheck(h); ok {
					v.Fixity = &view.Fixity{CheckedAt: last.CheckedAt.UTC(), Result: string(last.Result)}
				}
			}
		}
	default:
		st := n.BlobState(ctx, c)
		v.State = st.State
		if st.State == "partial" {
			v.Percent = st.Percent()
		}
	}
}

// ProgressView is p as its JSON document (view.Progress), classes by their
// names.
func ProgressView(p Progress) view.Progress {
	out := view.Progress{Time: time.Now().UTC(), Complete: p.Complete, Idle: p.Idle, Rate: p.Rate, ETA: -1,
		Records: p.RecordsApplied, Received: p.BytesReceived, Sent: p.BytesSent, Leaves: p.LeavesFetched, Refetch: p.Refetched,
		Classes: map[string]view.ClassProgress{}, Peers: []view.PeerProgress{}}
	if p.ETA >= 0 {
		out.ETA = p.ETA.Seconds()
	}
	out.Stalled = p.Stalled.Seconds()
	for c := blob.ClassThumbnail; c < blob.NumClasses; c++ {
		cp := p.Classes[c]
		out.Classes[c.String()] = view.ClassProgress{FilesDone: cp.FilesDone, FilesWanted: cp.FilesWanted, BytesDone: cp.BytesDone, BytesWanted: cp.BytesWanted}
	}
	for _, pp := range p.Peers {
		out.Peers = append(out.Peers, view.PeerProgress{ID: pp.ID.String(), State: pp.State.String(), Reason: pp.Reason,
			Rate: pp.Rate, Received: pp.BytesReceived, Sent: pp.BytesSent, Path: pp.Path})
	}
	for _, a := range p.Archives {
		out.Archives = append(out.Archives, view.ArchiveProgress{ID: a.Peer.String(), Checked: a.Checked, Held: a.Held,
			Lacking: a.Lacking, LackingBytes: a.LackingBytes})
	}
	return out
}
