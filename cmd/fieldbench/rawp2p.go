//go:build linux

package main

// The raw libp2p reference of the large-blob scenario: the blob's bytes on
// one libp2p stream over the same transport fieldsync uses (TCP, Noise,
// yamux, through the same forwarder; or QUIC, direct on 127.0.0.1 since the
// forwarder is TCP only), between two processes of this executable:
// 'raw-p2p-send' serves the files on one stream, 'raw-p2p-recv' connects,
// reads to EOF and discards. What fieldsync adds on top of this (wants,
// frames, verification, the store, fsync) is its whole cost. Two more
// receivers keep what they read: into one file fsynced at the end
// (PhaseDurable), and, the least a receiver that verifies and keeps every
// leaf must do, hashing each 1 MiB leaf and writing it straight to the
// disk beside the reading, then one fsync (PhaseVerified).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

const rawP2PProto = "/fieldbench/raw/1"

func rawP2PHost(listen ...string) ([]libp2p.Option, error) {
	return []libp2p.Option{
		libp2p.ListenAddrStrings(listen...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport), // as fieldsync's hosts (exchange/node.go)
	}, nil
}

// rawP2PMain runs 'raw-p2p-send --listen MULTIADDR [--dir DIR] FILE...'
// (prints its address with /p2p/ID, serves the files, and those under DIR
// in the order filesUnder gives, back to back on the first stream,
// then exits) and 'raw-p2p-recv --addr MULTIADDR [--write FILE] [--verify]' (prints
// a rawResult; with --write it writes what it reads to FILE and fsyncs it
// before it stops the clock; with --verify it hashes every leaf and writes
// it as keepVerified does).
func rawP2PMain(args []string) int {
	fl := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fl.String("listen", "/ip4/127.0.0.1/tcp/0", "")
	addr := fl.String("addr", "", "")
	write := fl.String("write", "", "")
	dir := fl.String("dir", "", "")
	verify := fl.Bool("verify", false, "")
	if fl.Parse(args[1:]) != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch args[0] {
	case "raw-p2p-send":
		opts, _ := rawP2PHost(*listen)
		h, err := libp2p.New(opts...)
		if err != nil {
			return fail(err)
		}
		defer h.Close()
		files := fl.Args()
		if *dir != "" {
			var err error
			if files, _, err = filesUnder(*dir); err != nil {
				return fail(err)
			}
		}
		done := make(chan error, 1)
		h.SetStreamHandler(rawP2PProto, func(s network.Stream) {
			w := bufio.NewWriterSize(s, 256<<10)
			var err error
			for _, p := range files {
				var f *os.File
				if f, err = os.Open(p); err != nil {
					break
				}
				_, err = io.Copy(w, f)
				f.Close()
				if err != nil {
					break
				}
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				s.Reset()
			} else {
				err = s.Close()
			}
			done <- err
		})
		fmt.Printf("%s/p2p/%s\n", h.Addrs()[0], h.ID())
		if err := <-done; err != nil {
			return fail(err)
		}
		time.Sleep(200 * time.Millisecond) // let the receiver read the close
		return 0
	case "raw-p2p-recv":
		start := time.Now()
		r := rawResult{}
		err := func() error {
			m, err := ma.NewMultiaddr(*addr)
			if err != nil {
				return err
			}
			ai, err := peer.AddrInfoFromP2pAddr(m)
			if err != nil {
				return err
			}
			opts, _ := rawP2PHost()
			h, err := libp2p.New(append(opts, libp2p.NoListenAddrs)...)
			if err != nil {
				return err
			}
			defer h.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			if err := h.Connect(ctx, *ai); err != nil {
				return err
			}
			s, err := h.NewStream(ctx, ai.ID, rawP2PProto)
			if err != nil {
				return err
			}
			defer s.Close()
			if *verify {
				r.Bytes, err = keepVerified(s, *write, chunk.ChunkSize)
				return err
			}
			buf := make([]byte, 256<<10)
			if *write == "" {
				r.Bytes, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{s}, buf)
				return err
			}
			f, err := os.Create(*write)
			if err != nil {
				return err
			}
			defer f.Close()
			if r.Bytes, err = io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{s}, buf); err != nil {
				return err
			}
			return f.Sync()
		}()
		r.Seconds = time.Since(start).Seconds()
		if err != nil {
			r.Error = err.Error()
		}
		return printResult(r, err)
	}
	return 2
}

// runRawP2P moves src's blob files over one raw libp2p stream on the same
// loopback link (the forwarder) that fieldsync's run went through, or in
// phase PhaseQUIC over QUIC on 127.0.0.1 directly, as fieldsync's QUIC
// run, or in phases PhaseDurable and PhaseVerified over TCP into a file.
func (b *bench) runRawP2P(ctx context.Context, src *source, phase string) *Run {
	run := &Run{Tool: ToolRawP2P, Phase: phase, Status: StatusFailed, Attempts: 1}
	overQUIC := phase == PhaseQUIC
	listen := "/ip4/127.0.0.1/tcp/0"
	if overQUIC {
		listen = "/ip4/127.0.0.1/udp/0/quic-v1"
	}
	_, total, err := filesUnder(blobDir(src.data))
	if err != nil {
		run.Error = err.Error()
		return run
	}
	send, err := b.startSender(ctx, "", "raw-p2p-send", "--listen", listen, "--dir", blobDir(src.data))
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer send.cmd.Wait()
	line := send.addr
	a := strings.Split(line, "/") // /ip4/H/tcp/P/p2p/ID
	if len(a) < 7 {
		run.Error = "raw-p2p-send printed " + line
		return run
	}
	w := &wire{}
	dial := line
	if !overQUIC {
		l, err := OpenLink(a[2]+":"+a[4], nil, nil)
		if err != nil {
			run.Error = err.Error()
			return run
		}
		defer l.Close()
		w.links = []*Link{l}
		dial = l.Multiaddr(a[6])
	}
	w.begin()
	args := []string{"raw-p2p-recv", "--addr", dial}
	if phase == PhaseDurable || phase == PhaseVerified {
		out := filepath.Join(b.work, "raw-p2p-"+phase)
		defer os.Remove(out)
		args = append(args, "--write", out)
	}
	if phase == PhaseVerified {
		args = append(args, "--verify")
	}
	rc := runReceiver(command(ctx, "", b.self, args...), "receiver: raw-p2p-recv")
	w.end()
	if rc.err != nil {
		run.Error = rc.err.Error()
		return run
	}
	rr, wall := rc.res, rc.wall
	_ = send.cmd.Wait()
	run.Procs = []ProcUsage{usage("sender: raw-p2p-send", send.cmd.ProcessState, time.Since(send.start), send.rss), rc.usage}
	if rr.Bytes != total {
		run.Error = fmt.Sprintf("received %d bytes, want %d", rr.Bytes, total)
		return run
	}
	// The receiving process's whole life, as for fieldsync's sync.
	run.Seconds = wall.Seconds()
	run.WireDown, run.WireUp = w.down, w.up
	run.Status = StatusOK
	if overQUIC {
		run.Note = quicNote
	}
	b.logf("  raw libp2p %s: %s (stream alone %s), %s down", run.Phase, secs(run.Seconds), secs(rr.Seconds), mib(run.WireDown))
	return run
}

// keepVerified reads r to its end in leaves of leaf bytes, hashes each
// (SHA-256) and, if path is not empty, writes it to that file, straight to
// the disk where the file system takes O_DIRECT, then fsyncs the file:
// the least a receiver that checks every leaf before it keeps it, and
// keeps it durably, must do, with nothing else (no frames, no store, no
// records). Hashing and writing run on one goroutine beside the reading,
// as fieldsync's do, on leaves handed over through a few buffers.
func keepVerified(r io.Reader, path string, leaf int) (int64, error) {
	var f, direct *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return 0, err
		}
		defer f.Close()
		if d, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0); err == nil {
			direct = d
			defer d.Close()
		}
	}
	type piece struct {
		b   []byte
		off int64
	}
	const depth = 4
	free := make(chan []byte, depth)
	for range depth {
		free <- alignedBuf(leaf)
	}
	work := make(chan piece, depth)
	done := make(chan error, 1)
	go func() {
		var err error
		for p := range work {
			if err == nil {
				_ = sha256.Sum256(p.b) // what checking the leaf against its CID costs
				err = writeAligned(f, direct, p.b, p.off)
			}
			free <- p.b[:cap(p.b)]
		}
		done <- err
	}()
	var n int64
	var rerr error
	for {
		b := <-free
		k, err := io.ReadFull(r, b[:leaf])
		if k > 0 {
			work <- piece{b[:k], n}
			n += int64(k)
		} else {
			free <- b
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(work)
	werr := <-done
	switch {
	case rerr != nil:
		return n, rerr
	case werr != nil:
		return n, werr
	case f != nil:
		return n, f.Sync()
	}
	return n, nil
}

// alignedBuf returns n bytes whose start is aligned to 4 KiB, as O_DIRECT
// wants.
func alignedBuf(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%align)) % align
	return b[skip : skip+n : skip+n]
}

// writeAligned writes b at off through direct when it can (whole 4 KiB
// blocks at a 4 KiB offset), through f otherwise; f nil writes nothing.
func writeAligned(f, direct *os.File, b []byte, off int64) error {
	if f == nil {
		return nil
	}
	if direct != nil && len(b)%4096 == 0 && off%4096 == 0 {
		if _, err := direct.WriteAt(b, off); !errors.Is(err, syscall.EINVAL) {
			return err
		}
	}
	_, err := f.WriteAt(b, off)
	return err
}

// receivedRaw is what a reference's receiving process reported, and what it
// cost.
type receivedRaw struct {
	res   rawResult
	wall  time.Duration // the process's whole life
	usage ProcUsage
	err   error // it failed, or printed no result: with its output
}

// runReceiver runs a reference's receiving process (raw-recv,
// raw-p2p-recv) to its end, tracking its memory, and reads the rawResult
// it prints.
func runReceiver(cmd *exec.Cmd, role string) receivedRaw {
	var ob bytes.Buffer
	var re syncBuffer
	cmd.Stdout, cmd.Stderr = &ob, &re
	var out receivedRaw
	t1 := time.Now()
	err := cmd.Start()
	var rss *rssTracker
	if err == nil {
		rss = trackRSS(cmd.Process.Pid)
		err = cmd.Wait()
	}
	out.wall = time.Since(t1)
	if jerr := json.Unmarshal(ob.Bytes(), &out.res); jerr != nil || out.res.Error != "" {
		out.err = fmt.Errorf("%s: %v %s %s %s", strings.TrimPrefix(role, "receiver: "), err, out.res.Error, ob.String(), re.String())
		return out
	}
	out.usage = usage(role, cmd.ProcessState, out.wall, rss)
	return out
}
