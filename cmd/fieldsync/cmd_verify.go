package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/node"
	"github.com/ipfs/go-cid"
)

// exitCorrupt is verify's exit code when a blob failed its check.
const exitCorrupt = 4

var timeZero time.Time

var verifyCmd = &command{
	name:    "verify",
	summary: "check stored blobs against their CIDs (fixity)",
	usage: `Usage: fieldsync verify [--data DIR] [--older-than DUR] [--json] [CID...]

Re-hashes stored blobs and compares them with their CIDs: every blob, the
ones given, or with --older-than only those not checked within DUR. Each
check is logged in the database (when, and the result). A corrupt or
truncated blob is moved to quarantine (it stops being served and is
fetched again from peers at the next sync); a missing one is reported.
Files in the store that no blob describes are reported as orphans.

Beside a running 'fieldsync serve' (or sync) on the same data directory,
verify checks beside it: that process learns within a second of each blob
quarantined and fetches it again at once. Orphan files are looked for only
when verify has the data directory to itself.

Options:
` + dataHelp + `  --older-than DUR   only blobs last checked more than DUR ago (e.g. 720h)
  --json             one JSON object per blob: {"cid","result","detail",...}

Examples:
  fieldsync verify
  fieldsync verify --older-than 720h
  fieldsync verify bafybei...

Exit codes: 0 every blob checked is intact, 1 the check itself failed
(I/O error), 2 bad usage, 4 some blob was corrupt, truncated, missing or
orphaned (listed; corrupt ones quarantined).
`,
}

func init() {
	verifyCmd.run = runVerify
	register(verifyCmd)
}

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(verifyCmd, e)
	data := dataFlag(fs)
	older := fs.Duration("older-than", 0, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(verifyCmd, e, fs, args)
	if err != nil {
		return err
	}
	var cids []cid.Cid
	for _, s := range rest {
		c, err := cid.Decode(s)
		if err != nil {
			return usagef("%q is not a CID: %v", s, err)
		}
		cids = append(cids, c)
	}
	if *older < 0 {
		return usagef("--older-than must be positive")
	}
	n, err := openBlindOK(ctx, *data, false, false, node.Options{Shared: true})
	if err != nil {
		return err
	}
	defer n.Close()
	beside := n.Shared()
	if beside && len(cids) == 0 {
		fmt.Fprintln(e.stderr, "another fieldsync process (a serve or a sync) holds this data directory: checking beside it; it fetches again any blob quarantined here. Orphan files are looked for only when verify has the directory to itself.")
	}
	ok, bad := 0, 0
	start := time.Now()
	lastPrint := start
	report := func(r blob.FixityReport) error {
		if r.OK() {
			ok++
		} else {
			bad++
		}
		if *asJSON {
			m := map[string]any{"result": r.Result, "path": r.Path}
			if r.CID.Defined() {
				m["cid"] = r.CID.String()
			}
			if r.Detail != "" {
				m["detail"] = r.Detail
			}
			if r.Quarantine != "" {
				m["quarantine"] = r.Quarantine
			}
			return writeJSON(e.stdout, m)
		}
		if !r.OK() {
			name := r.Path
			if r.CID.Defined() {
				name = r.CID.String()
			}
			fmt.Fprintf(e.stdout, "%-9s %s %s\n", r.Result, name, r.Detail)
			switch {
			case r.Quarantine == "":
			case beside:
				fmt.Fprintf(e.stdout, "          moved to %s; the fieldsync process running here fetches it again from its peers now\n", r.Quarantine)
			default:
				fmt.Fprintf(e.stdout, "          moved to %s; it will be fetched again at the next sync\n", r.Quarantine)
			}
		} else if time.Since(lastPrint) > 2*time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(e.stderr, "verified %d blobs ...\n", ok+bad)
		}
		return nil
	}
	if err := n.Verify(ctx, node.VerifyOptions{CIDs: cids, OlderThan: *older}, report); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "%d blobs intact, %d with problems (%s)\n", ok, bad, time.Since(start).Round(time.Millisecond))
	}
	if bad > 0 {
		return &exitError{code: exitCorrupt, err: fmt.Errorf("%d blobs failed verification", bad)}
	}
	return nil
}
