package scaling

// This file holds the decision of one service's replica count from its
// load, modelled on Knative's KPA: a stable window that the count follows,
// a panic window that reacts to a sudden rise, and a scale-down delay.

import (
	"fmt"
	"math"
	"time"
)

// Windows are the decider's time constants; docs/scaling.md says how they
// were measured.
type Windows struct {
	// Tick is the period of the samples of the load. Default: 1s
	Tick time.Duration
	// Stable is the window whose average load the count follows.
	// Default: 60s
	Stable time.Duration
	// Panic is the short window that detects a sudden rise. Default: 6s
	Panic time.Duration
	// ScaleDownDelay is how long a lower count must be the decision
	// before the count goes down: the count is the highest decided over
	// it; negative: none. Default: 30s
	ScaleDownDelay time.Duration
}

// Defaults of Windows.
const (
	DefaultTick           = time.Second
	DefaultStableWindow   = 60 * time.Second
	DefaultPanicWindow    = 6 * time.Second
	DefaultScaleDownDelay = 30 * time.Second
)

// PanicThreshold is how many times the ready replicas the panic window's
// count must reach for the decider to panic (Knative's default, 200 %).
const PanicThreshold uint64 = 2

// withDefaults returns w with its unset windows set to the defaults.
func (w Windows) withDefaults() Windows {
	if w.Tick <= 0 {
		w.Tick = DefaultTick
	}
	if w.Stable <= 0 {
		w.Stable = DefaultStableWindow
	}
	if w.Panic <= 0 {
		w.Panic = DefaultPanicWindow
	}
	if w.ScaleDownDelay == 0 {
		w.ScaleDownDelay = DefaultScaleDownDelay
	}
	return w
}

// ticks is how many ticks d spans, at least 1 (a negative d, none, is 1).
func (w Windows) ticks(d time.Duration) int { return max(1, int(d/w.Tick)) }

// Decision is what the decider decided at a tick.
type Decision struct {
	// Desired is the replica count the service should run.
	Desired uint64
	// Panic is true while the decider panics: the count only rises.
	Panic bool
	// Reason says why, for the routes API and the status page.
	Reason string
}

// Decider decides one service's replica count from the samples of its
// load (the requests in flight on every gateway), one per tick:
//
//   - the count follows the stable window's average: ceil(average ÷
//     target), within [max(min,1), max];
//   - when the panic window's count (within the bounds) reaches
//     PanicThreshold times the ready replicas, it panics: the count jumps to the panic window's and
//     never decreases until the stable window has passed without that;
//   - the count goes down only when every decision over the scale-down
//     delay is lower (hysteresis on top of the stable window's average).
//
// It is not safe for concurrent use: the autoscaler's tick owns it.
type Decider struct {
	w       Windows
	samples []float64 // the stable window's, a ring
	n       int       // samples held, up to len(samples)
	next    int       // where the next sample goes
	// recent are the counts decided over the scale-down delay, a ring.
	recent     []uint64
	recentNext int
	// panicSince is when the panic window last crossed the threshold,
	// zero while not panicking; panicMax the highest count decided since.
	panicSince time.Time
	panicMax   uint64
}

// NewDecider returns a decider with windows w (unset ones defaulted).
func NewDecider(w Windows) *Decider {
	w = w.withDefaults()
	return &Decider{
		w:       w,
		samples: make([]float64, w.ticks(w.Stable)),
		recent:  make([]uint64, w.ticks(w.ScaleDownDelay)),
	}
}

// Decide adds the sample inFlight, taken at now, and returns the count
// spec calls for, given ready replicas running.
func (d *Decider) Decide(now time.Time, inFlight float64, ready uint64, spec Spec) Decision {
	d.samples[d.next] = inFlight
	d.next = (d.next + 1) % len(d.samples)
	d.n = min(d.n+1, len(d.samples))
	stableAvg, panicAvg := d.average(d.n), d.average(min(d.n, d.w.ticks(d.w.Panic)))
	target := float64(max(spec.Target, 1))
	stable := clamp(countFor(stableAvg, target), spec)
	panicCount := clamp(countFor(panicAvg, target), spec)

	if panicCount >= PanicThreshold*max(ready, 1) {
		d.panicSince = now
	} else if !d.panicSince.IsZero() && now.Sub(d.panicSince) >= d.w.Stable {
		d.panicSince, d.panicMax = time.Time{}, 0
	}
	var dec Decision
	if !d.panicSince.IsZero() {
		d.panicMax = max(d.panicMax, panicCount, stable)
		dec = Decision{Desired: d.panicMax, Panic: true,
			Reason: fmt.Sprintf("panic: %.1f in flight over the last %v, target %d per replica, %d ready: %d, never fewer until %v without a surge", panicAvg, d.w.Panic, spec.Target, ready, d.panicMax, d.w.Stable)}
	} else {
		dec = Decision{Desired: stable,
			Reason: fmt.Sprintf("stable: %.1f in flight over the last %v, target %d per replica: %d", stableAvg, d.window(), spec.Target, stable)}
	}
	d.recent[d.recentNext] = dec.Desired
	d.recentNext = (d.recentNext + 1) % len(d.recent)
	if held := d.highestRecent(); held > dec.Desired {
		dec.Reason += fmt.Sprintf("; holding %d, decided within the scale-down delay (%v)", held, d.w.ScaleDownDelay)
		dec.Desired = held
	}
	return dec
}

// Reset forgets the samples and decisions: a service that wakes starts
// afresh, not from the load before it slept.
func (d *Decider) Reset() {
	clear(d.samples)
	clear(d.recent)
	d.n, d.next, d.recentNext = 0, 0, 0
	d.panicSince, d.panicMax = time.Time{}, 0
}

// average is the mean of the last k samples.
func (d *Decider) average(k int) float64 {
	if k == 0 {
		return 0
	}
	var sum float64
	for i := 1; i <= k; i++ {
		sum += d.samples[(d.next-i+len(d.samples))%len(d.samples)]
	}
	return sum / float64(k)
}

// window is the span of the samples held: the stable window once full.
func (d *Decider) window() time.Duration { return time.Duration(d.n) * d.w.Tick }

// highestRecent is the highest count decided over the scale-down delay.
func (d *Decider) highestRecent() uint64 {
	var h uint64
	for _, c := range d.recent {
		h = max(h, c)
	}
	return h
}

// countFor is the replicas that serve load at target in flight each.
func countFor(load, target float64) uint64 {
	if load <= 0 {
		return 0
	}
	return uint64(math.Ceil(load/target - 1e-9))
}

// clamp bounds n by spec's awake bounds.
func clamp(n uint64, spec Spec) uint64 { return min(max(n, spec.Awake()), max(spec.Max, spec.Awake())) }
