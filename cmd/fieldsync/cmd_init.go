package main

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync/node"
)

var initCmd = &command{
	name:    "init",
	summary: "create this device's identity, and optionally a project",
	usage: `Usage: fieldsync init [--data DIR] [--project NAME] [--name DEVICE] [--json]

Creates the data directory and this device's key (an Ed25519 key, which is
also its libp2p peer ID). With --project, also creates a project with this
device as its creator; without it, the device can join a project with
'fieldsync join CODE'. Running init again is safe: an existing key is kept.

Options:
` + dataHelp + `  --project NAME  create a project named NAME
  --name DEVICE   this device's name, shown to the project's other devices
                  (default: this machine's host name; change it with
                  'fieldsync name')
  --json          print {"dir","peer","device_name","project","name"} as JSON

Examples:
  fieldsync init --project "River survey 2026"
  fieldsync init --data /media/usb/fieldsync

Exit codes: 0 done, 1 failure (e.g. the directory is not writable, or the
device already holds another project), 2 bad usage.
`,
}

func init() {
	initCmd.run = runInit
	register(initCmd)
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(initCmd, e)
	data := dataFlag(fs)
	name := fs.String("project", "", "")
	devName := fs.String("name", defaultName(), "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(initCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q (a project name goes after --project)", rest[0])
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
	if *name != "" {
		if _, err := n.CreateProject(ctx, *name); err != nil {
			return err
		}
	}
	out := map[string]string{"dir": n.Dir(), "peer": n.ID().String(), "device_name": n.Name(ctx)}
	info, perr := n.Project()
	if perr == nil {
		out["project"] = info.ID
		out["name"] = info.Name
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "device   %s (%s)\ndata     %s\n", out["device_name"], out["peer"], out["dir"])
	if perr == nil {
		fmt.Fprintf(e.stdout, "project  %s (%s)\n", out["name"], out["project"])
		fmt.Fprintln(e.stdout, "next: add photos with 'fieldsync import DIR', then 'fieldsync serve --invite' to let another device join")
	} else {
		fmt.Fprintln(e.stdout, "next: 'fieldsync join CODE' with an invite code from a project member")
	}
	return nil
}
