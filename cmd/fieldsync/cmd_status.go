package main

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/internal/device"
	"github.com/fieldsync/fieldsync/project"
)

var statusCmd = &command{
	name:    "status",
	summary: "wanted vs present per class, partial blobs, peers, members",
	usage: `Usage: fieldsync status [--data DIR] [--json]

Shows this device, its project and members, its filter, the files and bytes
wanted and present per class (thumbnails, previews, originals, other
attachments), blobs partly received (they resume at the next sync), blobs
found corrupt or missing by 'fieldsync verify' (fetched again at the next
sync), known peers and whether 'fieldsync serve' is running here.

Options:
` + dataHelp + `  --json      print everything as one JSON object

Exit codes: 0 everything wanted is present, 1 failure, 2 bad usage,
3 something wanted is missing (run 'fieldsync sync').
`,
}

func init() {
	statusCmd.run = runStatus
	register(statusCmd)
}

type classStatus struct {
	Class        string `json:"class"`
	FilesWanted  int    `json:"files_wanted"`
	FilesPresent int    `json:"files_present"`
	BytesWanted  int64  `json:"bytes_wanted"`
	BytesPresent int64  `json:"bytes_present"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(statusCmd, e)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(statusCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	d, err := device.OpenShared(ctx, *data)
	if err != nil {
		return err
	}
	defer d.Close()
	out := map[string]any{"device": d.Self.PeerID().String(), "data": d.Dir}
	serving, _ := readServeState(d.Dir)
	if serving != nil {
		out["serve"] = serving
	}
	known, _ := device.KnownPeers(d.Dir)
	var peers []string
	for _, ai := range known {
		peers = append(peers, ai.ID.String())
	}
	out["known_peers"] = peers
	p := d.Project
	missing := false
	if p != nil {
		out["project"] = map[string]string{"id": p.ID().String(), "name": p.Name(), "role": string(p.RoleOf(d.Self.PeerID()))}
		var members []map[string]string
		for _, m := range p.Members() {
			members = append(members, map[string]string{"peer": m.Peer.String(), "role": string(m.Role)})
		}
		out["members"] = members
		f, err := p.FilterOf(ctx, d.Self.PeerID())
		if err != nil {
			return err
		}
		out["filter"] = f
		if d.Store != nil {
			wants, err := p.WantedBlobs(ctx, f)
			if err != nil {
				return err
			}
			var bad []map[string]string
			has := presence(ctx, d, true)
			rows := map[blob.Class]*classStatus{}
			var order []blob.Class
			for _, w := range wants {
				r := rows[w.Class]
				if r == nil {
					r = &classStatus{Class: w.Class.String()}
					rows[w.Class] = r
					order = append(order, w.Class)
				}
				r.FilesWanted++
				r.BytesWanted += w.Size
				if ok, _ := has(w.CID); ok {
					r.FilesPresent++
					r.BytesPresent += w.Size
				} else {
					missing = true
					// A wanted blob found corrupt or missing by verify.
					if h, err := d.Store.FixityHistory(ctx, w.CID); err == nil && len(h) > 0 && h[len(h)-1].Result != blob.FixityOK {
						last := h[len(h)-1]
						bad = append(bad, map[string]string{"cid": w.CID.String(), "result": string(last.Result), "checked": last.CheckedAt.UTC().Format("2006-01-02 15:04:05")})
					}
				}
			}
			var list []*classStatus
			for _, c := range order {
				list = append(list, rows[c])
			}
			out["classes"] = list
			partials, err := d.Store.Partials(ctx)
			if err != nil {
				return err
			}
			var ps []map[string]any
			for _, c := range partials {
				pm := map[string]any{"cid": c.String()}
				if sk, err := d.Store.Skeleton(ctx, c); err == nil {
					pm["size"] = sk.Size
					pm["leaves"] = len(sk.Leaves)
				}
				ps = append(ps, pm)
			}
			out["partial"] = ps
			out["quarantined"] = bad
		}
	}
	if *asJSON {
		_ = writeJSON(e.stdout, out)
	} else {
		w := e.stdout
		fmt.Fprintf(w, "device   %s\ndata     %s\n", out["device"], d.Dir)
		if serving != nil {
			fmt.Fprintf(w, "serve    running (pid %d) on %v\n", serving.PID, serving.Addrs)
		}
		if p == nil {
			fmt.Fprintln(w, "project  none: 'fieldsync init --project NAME' or 'fieldsync join CODE'")
			return nil
		}
		fmt.Fprintf(w, "project  %s (%s), this device is %s\n", p.Name(), p.ID(), p.RoleOf(d.Self.PeerID()))
		fmt.Fprintf(w, "members  %d\n", len(p.Members()))
		for _, m := range p.Members() {
			fmt.Fprintf(w, "  %-12s %s\n", m.Role, m.Peer)
		}
		f := out["filter"].(project.Filter)
		fmt.Fprintf(w, "filter   %s\n", f.Mode)
		if d.Store == nil {
			fmt.Fprintln(w, "blobs    (the store is held by 'fieldsync serve'; stop it to see blob status)")
		} else {
			fmt.Fprintln(w, "wanted   present/wanted")
			for _, r := range out["classes"].([]*classStatus) {
				fmt.Fprintf(w, "  %-11s %s %4d/%-4d files %10s/%s\n", r.Class, bar(r.BytesPresent, r.BytesWanted, 20),
					r.FilesPresent, r.FilesWanted, humanBytes(r.BytesPresent), humanBytes(r.BytesWanted))
			}
			if ps := out["partial"].([]map[string]any); len(ps) > 0 {
				fmt.Fprintf(w, "partial  %d blobs partly received (resume with 'fieldsync sync')\n", len(ps))
				for _, pm := range ps {
					fmt.Fprintf(w, "  %s\n", pm["cid"])
				}
			}
			if bad := out["quarantined"].([]map[string]string); len(bad) > 0 {
				fmt.Fprintf(w, "fixity   %d blobs failed verification (quarantined; fetched again at the next sync)\n", len(bad))
				for _, b := range bad {
					fmt.Fprintf(w, "  %s %s\n", b["cid"], b["result"])
				}
			}
		}
		if len(peers) > 0 {
			fmt.Fprintf(w, "peers    %d known\n", len(peers))
			for _, id := range peers {
				fmt.Fprintf(w, "  %s\n", id)
			}
		}
	}
	if missing {
		return &exitError{code: exitIncomplete, err: fmt.Errorf("some wanted files are not here yet: run 'fieldsync sync'")}
	}
	return nil
}
