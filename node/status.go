package node

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Status is the device at one moment: what it is, what it wants and has,
// and what its network does.
type Status struct {
	Device  peer.ID      `json:"device"`
	Dir     string       `json:"data"`
	Project *ProjectInfo `json:"project,omitempty"` // nil: no project yet
	Members []Member     `json:"members,omitempty"`
	// Blocked says who blocked this device and when, if it is blocked.
	Blocked *BlockedError   `json:"blocked,omitempty"`
	Filter  *project.Filter `json:"filter,omitempty"`
	// Classes count, per class in transfer order, the blobs wanted under
	// the filter against those present and verified.
	Classes []ClassStatus `json:"classes,omitempty"`
	// Partial are blobs partly received: the next sync resumes them.
	Partial []PartialBlob `json:"partial,omitempty"`
	// Fixity are wanted blobs whose last fixity check failed: they were
	// quarantined and are fetched again at the next sync.
	Fixity []FixityProblem `json:"quarantined,omitempty"`
	// BadPeers are the peers this device dropped because bytes they sent
	// failed verification, in its latest run of the network and the one
	// before, with the blob.
	BadPeers []BadPeer `json:"bad_peers,omitempty"`
	// Archives are the project's always-on devices and how much of what
	// this device holds each confirmed it holds (Archives).
	Archives []ArchiveSafety `json:"archives,omitempty"`
	// Serve is the serve running on this data directory, if any.
	Serve      *ServeInfo `json:"serve,omitempty"`
	KnownPeers []peer.ID  `json:"known_peers"`
	// Sync is the network's progress when it runs in this process.
	Sync *Progress `json:"-"`
	// Reach is whether this device can be reached from the internet,
	// while its network runs (here, or in a serve on this data
	// directory); nil when it does not run.
	Reach *Reachability `json:"reach,omitempty"`
	// Blind is what a blind archive holds (then Project is nil).
	Blind *BlindStatus `json:"blind,omitempty"`
}

// ClassStatus counts one class's wanted blobs against those here.
type ClassStatus struct {
	Class        blob.Class `json:"-"`
	Name         string     `json:"class"`
	FilesWanted  int        `json:"files_wanted"`
	FilesPresent int        `json:"files_present"`
	BytesWanted  int64      `json:"bytes_wanted"`
	BytesPresent int64      `json:"bytes_present"`
}

// PartialBlob is a blob partly received.
type PartialBlob struct {
	CID    cid.Cid
	Size   int64
	Leaves int
	Done   int64 // bytes verified and kept
}

// MarshalJSON writes the CID as its string.
func (b PartialBlob) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		CID    string `json:"cid"`
		Size   int64  `json:"size"`
		Leaves int    `json:"leaves"`
		Done   int64  `json:"done"`
	}{b.CID.String(), b.Size, b.Leaves, b.Done})
}

// FixityProblem is a wanted blob whose last check failed.
type FixityProblem struct {
	CID     cid.Cid
	Result  blob.Fixity
	Checked time.Time
}

// MarshalJSON writes the CID as its string.
func (f FixityProblem) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		CID     string      `json:"cid"`
		Result  blob.Fixity `json:"result"`
		Checked time.Time   `json:"checked"`
	}{f.CID.String(), f.Result, f.Checked.UTC()})
}

// Complete reports whether everything wanted is present (false while a
// class count is unknown).
func (s *Status) Complete() bool {
	if s.Project == nil {
		return false
	}
	for _, c := range s.Classes {
		if c.FilesPresent < c.FilesWanted {
			return false
		}
	}
	return true
}

// Status describes the device now. It lists the store once; on a device
// of tens of thousands of blobs it takes a moment.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	st := &Status{Device: n.ID(), Dir: n.dir, Serve: n.RunningServe(), KnownPeers: []peer.ID{}}
	st.BadPeers, _ = n.BadPeers(ctx)
	st.Archives, _ = n.Archives(ctx)
	known, _ := knownPeers(n.dir)
	for _, ai := range known {
		st.KnownPeers = append(st.KnownPeers, ai.ID)
	}
	if n.Running() {
		pr := n.Progress()
		st.Sync = &pr
		if r, err := n.Reachability(); err == nil {
			st.Reach = &r
		}
	} else if st.Serve != nil {
		st.Reach = st.Serve.Reach
	}
	if n.IsBlind() {
		b, err := n.BlindStatus(ctx)
		st.Blind = b
		return st, err
	}
	p, err := n.project()
	if err != nil {
		return st, nil
	}
	info, _ := n.Project()
	st.Project = &info
	if st.Members, err = n.Members(ctx); err != nil {
		return nil, err
	}
	st.Blocked = n.Blocked(ctx)
	f, err := p.FilterOf(ctx, n.ID())
	if err != nil {
		return nil, err
	}
	st.Filter = &f
	classes, err := n.classStatus(ctx, p, f)
	if err != nil {
		return nil, err
	}
	st.Classes = classes.list
	st.Fixity = classes.bad
	if st.Partial, err = n.partials(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

type classCounts struct {
	list []ClassStatus
	bad  []FixityProblem
}

// classStatus counts the wanted blobs per class against those present,
// listing the store once, and finds the wanted blobs that failed fixity.
func (n *Node) classStatus(ctx context.Context, p *project.Project, f project.Filter) (classCounts, error) {
	var out classCounts
	wants, err := p.WantedBlobs(ctx, f)
	if err != nil {
		return out, err
	}
	has := n.Presence(ctx, true)
	idx := map[blob.Class]int{}
	for _, w := range wants {
		i, ok := idx[w.Class]
		if !ok {
			i = len(out.list)
			idx[w.Class] = i
			out.list = append(out.list, ClassStatus{Class: w.Class, Name: w.Class.String()})
		}
		r := &out.list[i]
		r.FilesWanted++
		r.BytesWanted += w.Size
		if ok, _ := has(w.CID); ok {
			r.FilesPresent++
			r.BytesPresent += w.Size
			continue
		}
		if h, err := n.blobs().FixityHistory(ctx, w.CID); err == nil {
			if last, ok := blob.LastCheck(h); ok && last.Result != blob.FixityOK {
				out.bad = append(out.bad, FixityProblem{CID: w.CID, Result: last.Result, Checked: last.CheckedAt})
			}
		}
	}
	return out, nil
}

// Partials lists the blobs partly received (a sync resumes them), with
// how much of each is here.
func (n *Node) Partials(ctx context.Context) ([]PartialBlob, error) { return n.partials(ctx) }

func (n *Node) partials(ctx context.Context) ([]PartialBlob, error) {
	b := n.blobs()
	cids, err := b.Partials(ctx)
	if err != nil {
		return nil, err
	}
	var out []PartialBlob
	for _, c := range cids {
		pb := PartialBlob{CID: c}
		if sk, err := b.Skeleton(ctx, c); err == nil {
			pb.Size, pb.Leaves = sk.Size, len(sk.Leaves)
		}
		if done, _, err := b.PartialStatus(ctx, c); err == nil {
			pb.Done = done
		}
		out = append(out, pb)
	}
	return out, nil
}
