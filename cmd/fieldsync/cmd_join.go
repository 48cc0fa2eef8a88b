package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

var joinCmd = &command{
	name:    "join",
	summary: "join a project with an invite code",
	usage: `Usage: fieldsync join [--data DIR] [--filter archive|field] [--name DEVICE] [--peer ADDR] [--json] CODE

Redeems a one-time invite code with the inviting device, which must be
running 'fieldsync serve' at an address in the code. The secret in the code
is never sent: this device proves it knows it. On success this device is a
member of the project (or coordinator, as the code says) and remembers the
inviter as a peer; run 'fieldsync sync' to fetch the project.

The code may be given in pieces (spaces and dashes are ignored). The short
form of a code, read aloud over a radio or a phone (4-4-4-1 symbols, e.g.
K7QM-2XD4-R9TP-J), carries no address: the inviting device is found on the
local network, or given with --peer.

Options:
` + dataHelp + `  --filter F    what this device wants: archive (everything, default) or
                field (thumbnails and previews only)
  --peer ADDR   where the inviting device is (/ip4/.../tcp/.../p2p/ID), for a
                short code beyond the local network
  --name DEVICE this device's name, shown to the project's other devices
                (default: this machine's host name)
  --json        print {"project","name","role","peer"} as JSON

Examples:
  fieldsync join FS1-ABCD-...
  fieldsync join --filter field "$(cat invite.txt)"

Exit codes: 0 joined, 1 failure (the message says why: expired, already
used, revoked, mistyped code, inviter unreachable), 2 bad usage.
`,
}

func init() {
	joinCmd.run = runJoin
	register(joinCmd)
}

func runJoin(ctx context.Context, e *env, args []string) error {
	fs := newFlags(joinCmd, e)
	data := dataFlag(fs)
	filter := fs.String("filter", "archive", "")
	devName := fs.String("name", defaultName(), "")
	inviter := fs.String("peer", "", "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(joinCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("no invite CODE given")
	}
	f, err := parseFilter(*filter, nil, nil)
	if err != nil {
		return err
	}
	code := strings.Join(rest, "")
	inv, err := node.ParseInvite(code)
	if err != nil {
		return err
	}
	jo := node.JoinOptions{Filter: f}
	if *inviter != "" {
		ai, err := node.ParsePeer(*inviter)
		if err != nil {
			return usagef("--peer: %v", err)
		}
		jo.Inviter = &ai
	}
	if *devName != "" {
		if err := checkName(*devName); err != nil {
			return err
		}
	}
	n, err := node.Init(ctx, *data, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if *devName != "" && n.Name(ctx) == "" {
		if err := n.SetName(ctx, *devName); err != nil {
			return err
		}
	}
	if !*asJSON {
		if inv.Project != "" {
			fmt.Fprintf(e.stderr, "contacting the inviting device for project %s ...\n", inv.Project)
		} else if jo.Inviter == nil {
			fmt.Fprintln(e.stderr, "looking for the inviting device on this network (up to 30 s) ...")
		}
	}
	info, err := n.Join(ctx, code, jo)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"project": info.ID, "name": info.Name, "role": string(info.Role), "peer": n.ID().String()})
	}
	if info.Role == "archive" {
		fmt.Fprintf(e.stdout, "joined project %s as its blind archive: this device keeps the project sealed and cannot read it\n"+
			"next: fieldsync serve --data %s --public ADDR (ADDR: where the members reach this device; see docs/internet.md)\n", info.ID, *data)
		return nil
	}
	fmt.Fprintf(e.stdout, "joined %q (%s) as %s\nnext: fieldsync sync\n", info.Name, info.ID, info.Role)
	return nil
}

// parseFilter turns --filter and its custom options into a project filter.
func parseFilter(mode string, variants, kinds []string) (project.Filter, error) {
	switch mode {
	case "archive":
		return project.Archive, nil
	case "field":
		return project.Field, nil
	case "custom":
		f := project.Filter{Mode: project.FilterCustom}
		for _, v := range variants {
			switch project.VariantName(v) {
			case project.VariantOriginal, project.VariantPreview, project.VariantThumbnail:
				f.Variants = append(f.Variants, project.VariantName(v))
			default:
				return f, usagef("variant %q: want original, preview or thumbnail", v)
			}
		}
		for _, k := range kinds {
			switch project.AttachmentKind(k) {
			case project.AttachPhoto, project.AttachAudio, project.AttachVideo, project.AttachFile, project.AttachTrack:
				f.Kinds = append(f.Kinds, project.AttachmentKind(k))
			default:
				return f, usagef("kind %q: want photo, audio, video, file or track", k)
			}
		}
		return f, nil
	}
	return project.Filter{}, usagef("filter %q: want archive, field or custom", mode)
}
