package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/ui"
)

var uiCmd = &command{
	name:    "ui",
	summary: "open the project in a web browser: map, photos, sync",
	usage: `Usage: fieldsync ui [--data DIR] [--http ADDR [--http-remote]] [--basemap FILE.mbtiles]
                    [--max-upload MIB]

Serves a local web app for this device's project and prints its URL first:
the observations on a map (a world outline built in, and your own offline
tiles with --basemap), a gallery of their photos, each observation's
history and variants, and a form to add observations from the browser.
It needs no internet. The URL carries a secret token: whoever has it sees
the project, so keep it private. While 'fieldsync serve' runs on the same
data directory, 'ui' still works, read-only (no uploads, no live sync).

'fieldsync ui' does not sync; 'fieldsync serve --ui' syncs and serves the
app from one process, and its sync view then shows peers and progress live.

Options:
` + dataHelp + uiHelp + `
Examples:
  fieldsync ui
  fieldsync ui --http 127.0.0.1:8080 --basemap ~/maps/river.mbtiles
  fieldsync serve --ui

Exit codes: 0 stopped by a signal, 1 failure (e.g. no project, a bad
basemap, the port taken), 2 bad usage.
`,
}

const uiHelp = `  --http ADDR     the address to serve the web app on (default
                  127.0.0.1:0, a free port on this machine only)
  --http-remote   allow an --http address beyond this machine (a phone on
                  the same Wi-Fi, say): anyone with the URL sees the project
  --basemap FILE  an MBTiles file of raster tiles to draw under the map
  --max-upload N  the largest upload from the browser, in MiB (default 256)
`

func init() {
	uiCmd.run = runUI
	register(uiCmd)
}

// uiFlags are the web app's options, for ui and serve --ui.
type uiFlags struct {
	http      *string
	remote    *bool
	basemap   *string
	maxUpload *int64
}

// check validates the options before anything opens: a bad address or one
// beyond this machine without --http-remote is a usage error.
func (uf *uiFlags) check() error {
	if err := ui.CheckAddr(*uf.http, *uf.remote); err != nil {
		return usagef("%v", err)
	}
	if *uf.maxUpload < 1 {
		return usagef("--max-upload %d: want at least 1 (MiB)", *uf.maxUpload)
	}
	return nil
}

func addUIFlags(fs *flag.FlagSet) *uiFlags {
	return &uiFlags{
		http:      fs.String("http", "127.0.0.1:0", ""),
		remote:    fs.Bool("http-remote", false, ""),
		basemap:   fs.String("basemap", "", ""),
		maxUpload: fs.Int64("max-upload", ui.DefaultMaxUpload>>20, ""),
	}
}

func runUI(ctx context.Context, e *env, args []string) error {
	fs := newFlags(uiCmd, e)
	data := dataFlag(fs)
	uf := addUIFlags(fs)
	verbose := fs.Bool("v", false, "")
	rest, err := parseFlags(uiCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if err := uf.check(); err != nil {
		return err
	}
	n, err := openNode(ctx, *data, false, true, node.Options{Shared: true})
	if err != nil {
		return err
	}
	defer n.Close()
	_, stop, err := startUI(ctx, e, n, uf, *verbose, false)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(e.stderr, "press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

// startUI starts the web app for n (its sync view live when n's network
// runs). Unless quiet, it prints the app's URL as the first line of stdout.
// stop shuts the server down and waits for it.
func startUI(ctx context.Context, e *env, n *node.Node, uf *uiFlags, verbose, quiet bool) (urls []string, stop func(), err error) {
	cfg := ui.Config{
		Node:      n,
		Basemap:   *uf.basemap,
		MaxUpload: *uf.maxUpload << 20,
		Logger:    slog.New(slog.DiscardHandler),
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	if n.Shared() {
		fmt.Fprintln(e.stderr, "note: another fieldsync process (serve?) holds this data directory: the web app is read-only (no uploads) and shows no live sync; 'fieldsync serve --ui' does both")
	}
	srv, err := ui.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ln, urls, err := srv.Listen(*uf.http, *uf.remote)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	if !quiet {
		fmt.Fprintln(e.stdout, urls[0])
		for _, u := range urls[1:] {
			fmt.Fprintf(e.stdout, "  also at %s\n", u)
		}
	}
	if *uf.remote {
		fmt.Fprintln(e.stderr, "warning: the web app is reachable beyond this machine; anyone with the URL sees and changes the project")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			fmt.Fprintf(e.stderr, "web app: %v\n", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
		srv.Close()
	}
	return urls, stop, nil
}
