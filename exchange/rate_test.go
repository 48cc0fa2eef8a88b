package exchange

import (
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The rate and ETA of a node's progress, driven by a fake clock: a
// simulated link delivers DATA frames (128 KiB, counted when whole, as
// receive.go does) at a shaped rate, the scheduler's 200 ms tick runs,
// and a snapshot is taken at every tick. No sleeping.

// phase is a stretch of the simulated link: rate bytes/s (0: stopped)
// from each peer, for dur.
type phase struct {
	dur  time.Duration
	rate float64
}

// sample is a snapshot at t (since the start), with the truth known
// after the run: the time that actually remained until the last byte.
type sample struct {
	t      time.Duration
	s      Snapshot
	left   int64   // bytes left (as the ETA counts them)
	remain float64 // seconds until the last byte arrived; NaN if it never did
}

type linkSim struct {
	frame int64     // bytes per DATA frame
	total int64     // bytes wanted
	peers []peer.ID // each delivers at the phase's rate, frames staggered
	steps bool      // bytes left falls only when a 1 MiB leaf completes (nothing counted as kept)
}

// run simulates the phases and returns a sample per 200 ms tick.
func (l linkSim) run(phases []phase) []sample {
	n := &Node{}
	start := time.Date(2026, 5, 17, 8, 0, 0, 0, time.UTC)
	now := start
	n.prog.clock = func() time.Time { return now }
	n.prog.classes[blob.ClassAttachment] = ClassProgress{FilesWanted: 1, BytesWanted: l.total}
	if len(l.peers) == 0 {
		l.peers = []peer.ID{"peer-a"}
	}
	for _, id := range l.peers {
		n.prog.peerState(id, PeerConnected, "")
	}
	const step, tick = 10 * time.Millisecond, 200 * time.Millisecond
	credit := make([]float64, len(l.peers))
	for i := range credit { // stagger the peers' frames
		credit[i] = float64(l.frame) * float64(i) / float64(len(l.peers))
	}
	var got, leaf int64
	var end time.Duration = -1
	var out []sample
	for _, ph := range phases {
		for stop := now.Add(ph.dur); now.Before(stop); {
			now = now.Add(step)
			for i, id := range l.peers {
				credit[i] += ph.rate * step.Seconds()
				for credit[i] >= float64(l.frame) && got < l.total {
					credit[i] -= float64(l.frame)
					f := min(l.frame, l.total-got)
					got += f
					leaf += f
					n.prog.addRecv(id, int(f))
					n.prog.mu.Lock()
					if !l.steps {
						n.prog.kept += f
					}
					if leaf >= 1<<20 || got == l.total {
						if !l.steps {
							n.prog.kept -= leaf
						}
						n.prog.classes[blob.ClassAttachment].BytesDone += leaf
						leaf = 0
					}
					n.prog.mu.Unlock()
					if got == l.total {
						end = now.Sub(start)
					}
				}
			}
			if now.Sub(start)%tick == 0 {
				n.prog.tick(now)
				s := n.Progress()
				n.prog.mu.Lock()
				left := n.prog.left()
				n.prog.mu.Unlock()
				out = append(out, sample{t: now.Sub(start), s: s, left: left})
			}
		}
	}
	for i := range out {
		out[i].remain = math.NaN()
		if end >= 0 {
			out[i].remain = (end - out[i].t).Seconds()
		}
	}
	return out
}

func relErr(got, want float64) float64 { return math.Abs(got-want) / want }

// checkSteady checks the rate (within 15 % of want) and the ETA (within
// 20 % of the time that remained, where at least minRemain did) of the
// samples from `from` on, and that the ETA never rose. It returns the
// worst errors.
func checkSteady(t *testing.T, ss []sample, from time.Duration, want, minRemain float64) (rateErr, etaErr float64) {
	t.Helper()
	var prev *sample
	for i := range ss {
		x := &ss[i]
		if x.t < from || x.s.Complete || x.left == 0 {
			continue
		}
		if e := relErr(x.s.Rate, want); e > 0.15 {
			t.Errorf("at %s: rate %.0f B/s, want %.0f ± 15 %% (%.0f %% off)", x.t, x.s.Rate, want, 100*e)
		} else {
			rateErr = max(rateErr, e)
		}
		if x.remain >= minRemain {
			if x.s.ETA < 0 {
				t.Errorf("at %s: ETA unknown on a steady link", x.t)
			} else if e := relErr(x.s.ETA.Seconds(), x.remain); e > 0.20 {
				t.Errorf("at %s: ETA %.1f s, %.1f s remained (%.0f %% off)", x.t, x.s.ETA.Seconds(), x.remain, 100*e)
			} else {
				etaErr = max(etaErr, e)
			}
		}
		if prev != nil && prev.s.ETA >= 0 && x.s.ETA > prev.s.ETA+time.Millisecond {
			t.Errorf("at %s: ETA rose from %s to %s on a steady link", x.t, prev.s.ETA, x.s.ETA)
		}
		prev = x
	}
	return
}

// A steady 250 KB/s link delivering 128 KiB frames (one every 0.52 s):
// from 10 s on the rate is within 15 % of the link's and the ETA within
// 20 % of the time that actually remained, and the ETA only falls.
func TestRateSteadyBurstyLink(t *testing.T) {
	const rate = 250_000
	ss := linkSim{frame: 128 << 10, total: 25_000_000}.run([]phase{{110 * time.Second, rate}})
	if ss[len(ss)-1].left != 0 {
		t.Fatal("the simulated transfer did not finish")
	}
	re, ee := checkSteady(t, ss, 10*time.Second, rate, 2)
	t.Logf("worst from 10 s on: rate %.1f %% off, ETA %.1f %% off (where ≥ 2 s remained)", 100*re, 100*ee)

	// The same when bytes left falls a whole 1 MiB leaf (4 s of this
	// link) at a time: the smoothing evens the steps out.
	ss = linkSim{frame: 128 << 10, total: 25_000_000, steps: true}.run([]phase{{110 * time.Second, rate}})
	re, ee = checkSteady(t, ss, 10*time.Second, rate, 15)
	t.Logf("bytes left by whole leaves: rate %.1f %% off, ETA %.1f %% off (where ≥ 15 s remained)", 100*re, 100*ee)
}

// A 20 KB/s link: a frame every 6.5 s. The rate is right from the third
// frame on, and the gaps between frames are not a stall.
func TestRateSlowLink(t *testing.T) {
	const rate = 20_000
	ss := linkSim{frame: 128 << 10, total: 4_000_000}.run([]phase{{210 * time.Second, rate}})
	re, ee := checkSteady(t, ss, 20*time.Second, rate, 20)
	t.Logf("worst from 20 s on: rate %.1f %% off, ETA %.1f %% off", 100*re, 100*ee)
	for _, x := range ss {
		if x.s.Stalled > 0 {
			t.Fatalf("at %s: stalled (%s) between frames of a slow link", x.t, x.s.Stalled)
		}
	}
}

// A link that stops for 30 s: the rate falls steadily toward 0, the ETA
// turns unknown instead of a stale figure, Stalled says for how long; when
// bytes come again, all recovers.
func TestRateLinkStops(t *testing.T) {
	const rate = 250_000
	ss := linkSim{frame: 128 << 10, total: 100_000_000}.run([]phase{
		{20 * time.Second, rate}, {30 * time.Second, 0}, {20 * time.Second, rate},
	})
	var last time.Duration // the last frame before the stop
	for i, x := range ss {
		switch {
		case x.t <= 20*time.Second:
			if i > 0 && x.s.BytesReceived > ss[i-1].s.BytesReceived {
				last = x.t
			}
		case x.t <= 50*time.Second:
			quiet := x.t - last
			if x.s.Rate > ss[i-1].s.Rate+1e-6 {
				t.Errorf("at %s (%s without bytes): rate rose from %.0f to %.0f", x.t, quiet, ss[i-1].s.Rate, x.s.Rate)
			}
			if quiet > stallAfter+time.Second {
				if x.s.ETA >= 0 {
					t.Errorf("at %s (%s without bytes): ETA %s, want unknown", x.t, quiet, x.s.ETA)
				}
				if x.s.Stalled < quiet-time.Second || x.s.Stalled > quiet+time.Second {
					t.Errorf("at %s: stalled %s, no bytes for %s", x.t, x.s.Stalled, quiet)
				}
			}
			if x.t == 50*time.Second {
				t.Logf("after %s without bytes: rate %.0f B/s (%.1f %% of the link's), ETA %s, stalled %s", quiet, x.s.Rate, 100*x.s.Rate/rate, x.s.ETA, x.s.Stalled)
				if x.s.Rate > 0.1*rate {
					t.Errorf("after %s without bytes: rate %.0f B/s, want under 10 %% of %d", quiet, x.s.Rate, rate)
				}
			}
		default:
			if x.t > 51*time.Second && x.s.Stalled != 0 {
				t.Errorf("at %s: still stalled (%s) with bytes flowing again", x.t, x.s.Stalled)
			}
			if x.t >= 60*time.Second+500*time.Millisecond {
				if e := relErr(x.s.Rate, rate); e > 0.15 {
					t.Errorf("at %s (resumed at 50 s): rate %.0f, %.0f %% off", x.t, x.s.Rate, 100*e)
				}
				if x.s.ETA < 0 {
					t.Errorf("at %s (resumed at 50 s): ETA still unknown", x.t)
				}
			}
		}
	}
}

// A link that changes speed: the rate has the new speed within a window
// (10 s); meanwhile the ETA never rises above bytes left ÷ rate (what the
// drop explains), then comes within 20 % of the truth again.
func TestRateLinkChangesSpeed(t *testing.T) {
	for _, c := range []struct{ before, after float64 }{{400_000, 100_000}, {100_000, 400_000}} {
		total := int64(30*c.before + 60*c.after)
		ss := linkSim{frame: 128 << 10, total: total}.run([]phase{{30 * time.Second, c.before}, {70 * time.Second, c.after}})
		var conv time.Duration = -1
		for i, x := range ss {
			if x.t <= 30*time.Second || x.left == 0 {
				continue
			}
			if conv < 0 && relErr(x.s.Rate, c.after) <= 0.15 {
				conv = x.t - 30*time.Second
			}
			if x.t >= 30*time.Second+rateWindow+time.Second {
				if e := relErr(x.s.Rate, c.after); e > 0.15 {
					t.Errorf("%.0f → %.0f B/s: at %s, rate %.0f (%.0f %% off)", c.before, c.after, x.t, x.s.Rate, 100*e)
				}
			}
			prev := ss[i-1]
			if prev.s.ETA >= 0 && x.s.ETA >= 0 && x.s.Rate > 0 {
				bound := max(prev.s.ETA.Seconds()-0.2, float64(x.left)/x.s.Rate)
				if x.s.ETA.Seconds() > bound+0.01 {
					t.Errorf("%.0f → %.0f B/s: at %s, ETA %.1f s, above both the countdown (%.1f s) and bytes left ÷ rate (%.1f s)",
						c.before, c.after, x.t, x.s.ETA.Seconds(), prev.s.ETA.Seconds()-0.2, float64(x.left)/x.s.Rate)
				}
			}
		}
		t.Logf("%.0f → %.0f B/s: rate within 15 %% of the new speed %s after the change", c.before, c.after, conv)
		_, ee := checkSteadyETA(t, ss, 30*time.Second+rateWindow+3*etaTau, 3)
		t.Logf("%.0f → %.0f B/s: ETA within %.1f %% from %s on", c.before, c.after, 100*ee, 30*time.Second+rateWindow+3*etaTau)
	}
}

// checkSteadyETA checks only the ETA (within 20 % where at least
// minRemain seconds remained), from `from` on.
func checkSteadyETA(t *testing.T, ss []sample, from time.Duration, minRemain float64) (n int, worst float64) {
	t.Helper()
	for _, x := range ss {
		if x.t < from || x.left == 0 || !(x.remain >= minRemain) {
			continue
		}
		n++
		if x.s.ETA < 0 {
			t.Errorf("at %s: ETA unknown", x.t)
		} else if e := relErr(x.s.ETA.Seconds(), x.remain); e > 0.20 {
			t.Errorf("at %s: ETA %.1f s, %.1f s remained (%.0f %% off)", x.t, x.s.ETA.Seconds(), x.remain, 100*e)
		} else {
			worst = max(worst, e)
		}
	}
	return
}

// Two peers at 125 KB/s each: each peer's rate is its own, the total
// theirs together.
func TestRatePerPeer(t *testing.T) {
	ss := linkSim{frame: 128 << 10, total: 30_000_000, peers: []peer.ID{"peer-a", "peer-b"}}.run([]phase{{60 * time.Second, 125_000}})
	for _, x := range ss {
		if x.t < 10*time.Second || x.left == 0 {
			continue
		}
		if e := relErr(x.s.Rate, 250_000); e > 0.15 {
			t.Errorf("at %s: total rate %.0f (%.0f %% off)", x.t, x.s.Rate, 100*e)
		}
		for _, p := range x.s.Peers {
			if e := relErr(p.Rate, 125_000); e > 0.15 {
				t.Errorf("at %s: %s's rate %.0f (%.0f %% off)", x.t, p.ID, p.Rate, 100*e)
			}
		}
	}
}

// Before the first bytes, and after only one frame, there is no rate and
// no ETA (not a guess); with nothing left the ETA is 0.
func TestRateUnknownAtFirst(t *testing.T) {
	ss := linkSim{frame: 128 << 10, total: 10_000_000}.run([]phase{{100 * time.Millisecond, 0}, {time.Second, 50_000}})
	for _, x := range ss {
		if x.s.Rate != 0 || x.s.ETA != -1 || x.s.Stalled != 0 {
			t.Errorf("at %s (%d bytes in): rate %.0f, ETA %s, stalled %s; want 0, -1, 0", x.t, x.s.BytesReceived, x.s.Rate, x.s.ETA, x.s.Stalled)
		}
	}
	ss = linkSim{frame: 128 << 10, total: 1 << 20}.run([]phase{{10 * time.Second, 250_000}})
	if x := ss[len(ss)-1]; x.left != 0 || x.s.ETA != 0 || x.s.Stalled != 0 {
		t.Errorf("everything here: left %d, ETA %s, stalled %s; want 0, 0, 0", x.left, x.s.ETA, x.s.Stalled)
	}
}

// The meter's memory stays bounded on a fast link (arrivals within
// rateQuantum are one entry).
func TestRateMeterBounded(t *testing.T) {
	var m rateMeter
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200_000; i++ { // 100 MB/s in 128 KiB frames for 260 s
		now = now.Add(1310 * time.Microsecond)
		m.add(now, 128<<10)
	}
	if len(m.arr) > int(rateWindow/rateQuantum)+rateMinArrivals+1 {
		t.Errorf("%d entries", len(m.arr))
	}
	if r, ok := m.rate(now); !ok || relErr(r, 128<<10/1.31e-3) > 0.02 {
		t.Errorf("rate %.0f (%v), want %.0f", r, ok, 128<<10/1.31e-3)
	}
}
