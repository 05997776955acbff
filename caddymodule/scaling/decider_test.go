package scaling

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The load of the simulations: a function that answers in 100 ms, at 20
// and then 400 requests a second, with a target of 10 in flight per
// replica: 2 in flight (1 replica), then 40 (4 replicas).
const (
	simLatency = 100 * time.Millisecond
	simTarget  = 10
	// simStart is how long a new replica takes to run (the engine's cold
	// start of multiply is about 2.5 s).
	simStart = 2500 * time.Millisecond
)

// step is one stretch of a simulated load: rate requests a second for d.
type step struct {
	rate float64
	d    time.Duration
}

// tickLog is what one tick of a simulation decided.
type tickLog struct {
	at               time.Duration // since the simulation started
	desired, running uint64
	panic            bool
}

// simulate runs a decider with spec over the steps, one sample a tick,
// the in-flight count drawn around rate × latency (Poisson-like when
// noisy), the desired count applied at once and new replicas running
// after simStart. It starts with spec's awake minimum running.
func simulate(spec Spec, w Windows, noisy bool, steps ...step) []tickLog {
	w = w.withDefaults()
	d := NewDecider(w)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	running := spec.Awake()
	var starts []time.Duration // when each replica on its way runs
	var out []tickLog
	var at time.Duration
	for _, s := range steps {
		for end := at + s.d; at < end; at += w.Tick {
			for len(starts) > 0 && starts[0] <= at {
				starts, running = starts[1:], running+1
			}
			mean := s.rate * simLatency.Seconds()
			inFlight := mean
			if noisy {
				inFlight = math.Max(0, math.Round(mean+rng.NormFloat64()*math.Sqrt(mean)))
			}
			dec := d.Decide(t0.Add(at), inFlight, running, spec)
			wanted := running + uint64(len(starts))
			for ; wanted < dec.Desired; wanted++ {
				starts = append(starts, at+simStart)
			}
			if dec.Desired < wanted { // scaling down stops replicas at once, the newest first
				drop := wanted - dec.Desired
				cut := min(drop, uint64(len(starts)))
				starts = starts[:uint64(len(starts))-cut]
				running -= drop - cut
			}
			out = append(out, tickLog{at: at, desired: dec.Desired, running: running, panic: dec.Panic})
		}
	}
	return out
}

// firstAt returns the first tick at or after from whose count satisfies
// ok, and whether there is one.
func firstAt(log []tickLog, from time.Duration, ok func(tickLog) bool) (tickLog, bool) {
	for _, l := range log {
		if l.at >= from && ok(l) {
			return l, true
		}
	}
	return tickLog{}, false
}

// spread returns the lowest and highest desired count from from on.
func spread(log []tickLog, from time.Duration) (lo, hi uint64, changes int) {
	lo, prev := math.MaxUint64, uint64(0)
	for i, l := range log {
		if l.at < from {
			continue
		}
		lo, hi = min(lo, l.desired), max(hi, l.desired)
		if i > 0 && log[i-1].at >= from && l.desired != prev {
			changes++
		}
		prev = l.desired
	}
	return lo, hi, changes
}

// TestDeciderFollowsAStep checks the step of issue 25: from 20 to 400
// requests a second at 100 ms, the running count reaches the 4 replicas
// the load calls for within 15 s, and stays within one of it.
func TestDeciderFollowsAStep(t *testing.T) {
	for _, tt := range []struct {
		name  string
		noisy bool
		w     Windows
	}{
		{name: "exact load, default windows"},
		{name: "noisy load, default windows", noisy: true},
		{name: "noisy load, no scale-down delay", noisy: true, w: Windows{ScaleDownDelay: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Min: 1, Max: 20, Target: simTarget}
			const before = 2 * time.Minute
			log := simulate(spec, tt.w, tt.noisy, step{20, before}, step{400, 5 * time.Minute})
			if l := log[len(log)-1-int(5*time.Minute/time.Second)]; l.running != 1 {
				t.Fatalf("before the step: %d running, want 1", l.running)
			}
			reached, ok := firstAt(log, before, func(l tickLog) bool { return l.running >= 4 })
			if !ok || reached.at-before > 15*time.Second {
				t.Fatalf("4 replicas running %v after the step (found: %v), want within 15s", reached.at-before, ok)
			}
			t.Logf("4 running %v after the step", reached.at-before)
			if lo, hi, _ := spread(log, before+15*time.Second); lo < 4 || hi > 5 {
				t.Errorf("after reaching: desired from %d to %d, want within 4..5", lo, hi)
			}
			// The load calls for exactly 4: noise above it calls for 5.
			if got := log[len(log)-1].desired; got != 4 && (!tt.noisy || got != 5) {
				t.Errorf("settled at %d, want 4 (or 5 with noise)", got)
			}
		})
	}
}

// TestDeciderFallsBackToMin checks that within 2 minutes after the load
// stops the count is back at the minimum, whether the stop comes long
// after the surge or while it still panics.
func TestDeciderFallsBackToMin(t *testing.T) {
	for _, tt := range []struct {
		name string
		min  uint64
		load time.Duration // how long the 400/s load ran
	}{
		{name: "long load, min 1", min: 1, load: 5 * time.Minute},
		{name: "short load, still panicking", min: 1, load: 20 * time.Second},
		{name: "min 2", min: 2, load: 3 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Min: tt.min, Max: 20, Target: simTarget}
			start := time.Minute
			log := simulate(spec, Windows{}, true, step{20, start}, step{400, tt.load}, step{0, 4 * time.Minute})
			stop := start + tt.load
			if l, _ := firstAt(log, stop-time.Second, func(tickLog) bool { return true }); l.desired < 4 {
				t.Fatalf("at the stop: %d desired, want at least 4", l.desired)
			}
			back, ok := firstAt(log, stop, func(l tickLog) bool { return l.desired == tt.min && l.running == tt.min })
			if !ok || back.at-stop > 2*time.Minute {
				t.Fatalf("back at %d replicas %v after the stop (found: %v), want within 2m", tt.min, back.at-stop, ok)
			}
			t.Logf("back at the minimum %v after the stop", back.at-stop)
			if lo, hi, _ := spread(log, back.at); lo != tt.min || hi != tt.min {
				t.Errorf("after falling back: from %d to %d, want %d", lo, hi, tt.min)
			}
		})
	}
}

// TestDeciderSteadyLoad checks that in steady load, noisy, the count
// never moves by more than one step, including at a load whose count is
// on the edge between two (40 in flight at target 10: 4, or 5 for any
// sample above).
func TestDeciderSteadyLoad(t *testing.T) {
	for _, tt := range []struct {
		name       string
		rate       float64
		maxChanges int
	}{
		{name: "350/s: 3.5 replicas' load", rate: 350, maxChanges: 0},
		{name: "400/s: on the edge of 4 and 5", rate: 400, maxChanges: 10},
		{name: "1000/s: 10 replicas", rate: 1000, maxChanges: 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Min: 1, Max: 50, Target: simTarget}
			log := simulate(spec, Windows{}, true, step{tt.rate, 20 * time.Minute})
			settle := 2 * time.Minute
			lo, hi, changes := spread(log, settle)
			t.Logf("desired from %d to %d, %d changes in %v", lo, hi, changes, 18*time.Minute)
			if hi-lo > 1 {
				t.Errorf("desired from %d to %d: oscillates by more than one step", lo, hi)
			}
			if changes > tt.maxChanges {
				t.Errorf("%d changes in steady load, want at most %d", changes, tt.maxChanges)
			}
		})
	}
}

// TestDeciderBounds checks the count against the labels' bounds and the
// panic rule, tick by tick.
func TestDeciderBounds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		spec      Spec
		inFlight  float64
		ready     uint64
		want      uint64
		wantPanic bool
	}{
		{name: "no load: the awake minimum", spec: Spec{Min: 0, Max: 5, Idle: time.Minute, Target: 10}, inFlight: 0, ready: 1, want: 1},
		{name: "no load, min 3", spec: Spec{Min: 3, Max: 5, Target: 10}, inFlight: 0, ready: 3, want: 3},
		{name: "within bounds", spec: Spec{Min: 1, Max: 10, Target: 10}, inFlight: 25, ready: 3, want: 3},
		{name: "a whole target is one replica", spec: Spec{Min: 1, Max: 10, Target: 10}, inFlight: 30, ready: 3, want: 3},
		{name: "above max", spec: Spec{Min: 1, Max: 4, Target: 10}, inFlight: 1000, ready: 4, want: 4},
		{name: "panic: twice the ready", spec: Spec{Min: 1, Max: 50, Target: 10}, inFlight: 200, ready: 2, want: 20, wantPanic: true},
		{name: "no panic below twice", spec: Spec{Min: 1, Max: 50, Target: 10}, inFlight: 35, ready: 3, want: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecider(Windows{})
			dec := d.Decide(t0, tt.inFlight, tt.ready, tt.spec)
			if dec.Desired != tt.want || dec.Panic != tt.wantPanic || dec.Reason == "" {
				t.Errorf("Decide = %+v, want %d (panic %v) with a reason", dec, tt.want, tt.wantPanic)
			}
		})
	}
}

// TestDeciderPanicNeverDecreases checks that while it panics the count
// only rises, even when the surge ebbs within the panic window.
func TestDeciderPanicNeverDecreases(t *testing.T) {
	spec := Spec{Min: 1, Max: 50, Target: 10}
	d := NewDecider(Windows{ScaleDownDelay: -1})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	loads := []float64{2, 2, 100, 100, 5, 5, 5, 5, 5, 5, 5, 5}
	var prev uint64
	for i, l := range loads {
		dec := d.Decide(t0.Add(time.Duration(i)*time.Second), l, 1, spec)
		if i >= 2 && !dec.Panic {
			t.Fatalf("tick %d: not panicking", i)
		}
		if dec.Desired < prev {
			t.Fatalf("tick %d: %d after %d while panicking", i, dec.Desired, prev)
		}
		prev = dec.Desired
	}
}
