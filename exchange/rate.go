package exchange

import (
	"math"
	"time"
)

// The rate and the ETA that progress reports.
//
// Payload reaches the counters in bursts: a DATA frame (128 KiB by
// default) is counted once it has been read whole, so on a 250 KB/s link
// one arrives every half second, and on a 20 KB/s link one every six
// seconds. Bytes per tick, however smoothed, alias against that: an EWMA
// over 200 ms ticks swings between 0 and several times the link's rate,
// and even bytes in a sliding window of ticks depend on where the window
// cuts the bursts (a 10 s window holds 19 or 20 frames at 250 KB/s, 1 or
// 2 at 20 KB/s: ±50 %). Bytes since the first byte over the time since
// it, the usual warm-up, overstates by one whole burst at the start.
//
// rateMeter measures between arrivals instead: over the arrivals of the
// last rateWindow (10 s; at least the last rateMinArrivals, so that a slow
// link still has two intervals), the bytes that came after the first of
// them divided by the time from the first to the last. For periodic
// bursts that is exact at any phase and from the second interval on, and
// a change of speed has replaced the old figure within one window. Once
// the next arrival is overdue (later than one mean interval after the
// last), the time up to now counts instead, less that interval: a link
// that stops shows its rate falling steadily toward 0 rather than holding
// its last figure, and 0 once rateHorizon (60 s) has passed.

const (
	rateWindow      = 10 * time.Second
	rateHorizon     = 60 * time.Second
	rateQuantum     = 100 * time.Millisecond // arrivals closer than this are one entry (bounds memory on a fast link)
	rateMinArrivals = 3                      // two intervals
	rateMinAge      = time.Second            // no figure until the first arrival is this old
	stallAfter      = 10 * time.Second       // no payload for this long, and for stallIntervals mean intervals: stalled
	stallIntervals  = 3
	etaTau          = 4 * time.Second // how fast the ETA follows bytes left ÷ rate
)

// arrival is payload that arrived between start and t (within rateQuantum).
type arrival struct {
	start, t time.Time
	n        int64
}

// rateMeter estimates a byte rate from arrivals of payload. Its methods
// take the time, so tests drive it with a fake clock. Not safe for
// concurrent use (progress.mu guards it).
type rateMeter struct {
	arr   []arrival // oldest first
	last  time.Time // the last arrival, kept past the horizon
	stall bool      // declared stalled since the last arrival
}

// add counts n bytes arrived at now.
func (m *rateMeter) add(now time.Time, n int) {
	if n <= 0 {
		return
	}
	m.last, m.stall = now, false
	if k := len(m.arr); k > 0 && now.Sub(m.arr[k-1].start) < rateQuantum {
		m.arr[k-1].t = now
		m.arr[k-1].n += int64(n)
		return
	}
	m.trim(now)
	m.arr = append(m.arr, arrival{start: now, t: now, n: int64(n)})
}

// trim drops the arrivals older than the window (keeping the last
// rateMinArrivals) and those older than the horizon.
func (m *rateMeter) trim(now time.Time) {
	i := 0
	for i < len(m.arr) {
		age := now.Sub(m.arr[i].t)
		if age <= rateHorizon && (age <= rateWindow || len(m.arr)-i <= rateMinArrivals) {
			break
		}
		i++
	}
	if i > 0 {
		m.arr = append(m.arr[:0], m.arr[i:]...)
	}
}

// rate returns the estimate at now in bytes/s, and whether there is one
// yet: at least two intervals, the first arrival at least rateMinAge old.
func (m *rateMeter) rate(now time.Time) (float64, bool) {
	m.trim(now)
	k := len(m.arr) - 1 // intervals
	if k < rateMinArrivals-1 {
		return 0, false
	}
	first, last := m.arr[0].t, m.arr[k].t
	span := last.Sub(first)
	if span <= 0 || now.Sub(first) < rateMinAge {
		return 0, false
	}
	var b int64
	for _, a := range m.arr[1:] {
		b += a.n
	}
	gap := span / time.Duration(k)
	d := max(span, now.Sub(first)-gap)
	return float64(b) / d.Seconds(), true
}

// stalled returns how long no payload has arrived if that is overdue
// (longer than stallAfter and than stallIntervals mean intervals), else 0;
// 0 before the first arrival. Once stalled, it stays so until an arrival.
func (m *rateMeter) stalled(now time.Time) time.Duration {
	if m.last.IsZero() {
		return 0
	}
	q := now.Sub(m.last)
	if !m.stall {
		limit := stallAfter
		if k := len(m.arr) - 1; k >= 1 {
			limit = max(limit, stallIntervals*(m.arr[k].t.Sub(m.arr[0].t)/time.Duration(k)))
		}
		m.stall = q > limit
	}
	if !m.stall {
		return 0
	}
	return q
}

// etaSmoother turns bytes left ÷ rate into a remaining time that does not
// jump and counts down, a second per second, while the rate holds. Each
// update starts from the previous estimate less the time since it (the
// countdown) and moves a fraction 1-exp(-dt/etaTau) of the way to bytes
// left ÷ rate (bytes left falls in steps as leaves and blobs complete, the
// rate wobbles with bursts; the fraction evens both out). Lying between
// the two, the ETA only rises when bytes left ÷ rate is above it (the rate
// fell), and never above bytes left ÷ rate. It is unknown (-1) while the
// rate is unknown or the link is stalled: a stale figure would mislead.
type etaSmoother struct {
	eta float64   // seconds; < 0: unknown
	at  time.Time // when eta was set
	on  bool      // eta is a running estimate (not unknown, not done)
}

// update sets the estimate at now from bytes left and the rate; ok says
// whether the rate stands (known, and the link not stalled).
func (e *etaSmoother) update(now time.Time, left int64, rate float64, ok bool) {
	switch {
	case left <= 0:
		e.eta, e.on = 0, false
	case !ok || rate <= 0:
		e.eta, e.on = -1, false
	default:
		raw := float64(left) / rate
		if !e.on {
			e.eta, e.on = raw, true
			break
		}
		dt := max(now.Sub(e.at).Seconds(), 0)
		pred := max(e.eta-dt, 0)
		a := 1 - math.Exp(-dt/etaTau.Seconds())
		e.eta = pred + a*(raw-pred)
	}
	e.at = now
}

// get returns the estimate at now (counted down since the last update),
// or -1 if unknown.
func (e *etaSmoother) get(now time.Time) time.Duration {
	if e.eta < 0 || e.at.IsZero() {
		return -1
	}
	s := e.eta
	if e.on {
		s = max(s-max(now.Sub(e.at).Seconds(), 0), 0)
	}
	return time.Duration(s * float64(time.Second))
}
