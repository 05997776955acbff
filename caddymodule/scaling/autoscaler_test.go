package scaling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeScaler records the scale calls; while block is open, each waits on
// it; fail makes them fail; apply, if set, is called with the count of
// each that succeeds.
type fakeScaler struct {
	mu    sync.Mutex
	calls []string // "engine/id=n"
	block chan struct{}
	fail  error
	apply func(n uint64)
}

func (f *fakeScaler) Scale(ctx context.Context, engine, id string, n uint64) error {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%s=%d", engine, id, n))
	block, fail := f.block, f.fail
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail == nil && f.apply != nil {
		f.apply(n)
	}
	return fail
}

func (f *fakeScaler) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakePeers are peers whose leadership and reports a test sets.
type fakePeers struct {
	mu      sync.Mutex
	leader  bool
	reports []Report
}

func (p *fakePeers) Leader() bool      { p.mu.Lock(); defer p.mu.Unlock(); return p.leader }
func (p *fakePeers) Reports() []Report { p.mu.Lock(); defer p.mu.Unlock(); return p.reports }
func (p *fakePeers) set(leader bool, reports ...Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leader, p.reports = leader, reports
}

// rig is an autoscaler on a fake clock, with one service whose counts a
// test sets.
type rig struct {
	a      *Autoscaler
	sc     *fakeScaler
	peers  *fakePeers
	now    time.Time
	mu     sync.Mutex
	svc    Service
	load   *Load // svc's
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, spec Spec, running, desired uint64) *rig {
	t.Helper()
	r := &rig{sc: &fakeScaler{}, peers: &fakePeers{leader: true}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.load = new(Load)
	r.svc = Service{ID: "s1", Name: "fn", Spec: spec, Running: running, Desired: desired, Load: r.load}
	r.a = New(Options{
		Services: func() []Service { r.mu.Lock(); defer r.mu.Unlock(); return []Service{r.svc} },
		Scaler:   r.sc, Peers: r.peers, Gateway: "gw1",
		Now: func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now },
	})
	// Run owns the calls' context; its ticker is too slow to matter here:
	// the test ticks itself.
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.a.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

// advance moves the clock by d, one tick a second.
func (r *rig) advance(d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Second {
		r.mu.Lock()
		r.now = r.now.Add(time.Second)
		r.mu.Unlock()
		r.a.tick()
	}
}

// service is the service as the table has it now.
func (r *rig) service() Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svc
}

// key is the service's key.
func (*rig) key() string { return Key("", "s1") }

func (r *rig) setCounts(running, desired uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.svc.Running, r.svc.Desired = running, desired
}

// waitCalls waits for the scaler to have n calls, and returns them.
func (r *rig) waitCalls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := r.sc.recorded()
		if len(c) >= n || time.Now().After(deadline) {
			return c
		}
		time.Sleep(time.Millisecond)
	}
}

// settle waits for the scale calls in flight to return.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.a.mu.Lock()
		st := r.a.states[r.key()]
		busy := st != nil && (st.writing || st.waking)
		r.a.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("scale calls still in flight")
}

// TestSleep checks that a service nobody sent a request to for its idle
// time is scaled to 0, by the leader only, and that a request on any
// gateway within the idle time keeps it awake.
func TestSleep(t *testing.T) {
	spec := Spec{Min: 0, Max: 5, Idle: 10 * time.Second, Target: 10}
	for _, tt := range []struct {
		name   string
		leader bool
		// activity runs at each tick.
		activity  func(r *rig, tick int)
		wantCalls []string
	}{
		{name: "idle, leader: sleeps", leader: true, wantCalls: []string{"/s1=0"}},
		{name: "idle, not the leader: untouched", leader: false},
		{name: "requests here", leader: true, activity: func(r *rig, tick int) {
			if tick%5 == 0 {
				r.load.Start()
				r.load.End()
			}
		}},
		{name: "a request in flight for long", leader: true, activity: func(r *rig, tick int) {
			if tick == 1 {
				r.load.Start()
			}
		}},
		{name: "requests on another gateway only", leader: true, activity: func(r *rig, tick int) {
			r.peers.set(true, Report{Gateway: "gw2", Services: map[string]ServiceLoad{r.key(): {Requests: uint64(tick / 5)}}})
		}},
		{name: "another gateway reports a stale count: sleeps", leader: true, wantCalls: []string{"/s1=0"}, activity: func(r *rig, tick int) {
			r.peers.set(true, Report{Gateway: "gw2", Services: map[string]ServiceLoad{r.key(): {Requests: 7}}})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec, 1, 1)
			r.sc.apply = func(n uint64) { r.setCounts(n, n) } // the table shows a count as soon as it is set
			r.peers.set(tt.leader)
			for i := range 30 {
				if tt.activity != nil {
					tt.activity(r, i)
				}
				r.advance(time.Second)
			}
			r.settle(t)
			if got := r.sc.recorded(); strings.Join(got, " ") != strings.Join(tt.wantCalls, " ") {
				t.Errorf("scale calls %q, want %q", got, tt.wantCalls)
			}
			if tt.wantCalls != nil {
				if n := testutil.ToFloat64(r.a.metrics.sleeps.WithLabelValues("fn")); n != 1 {
					t.Errorf("sleeps counted %v, want 1", n)
				}
			}
		})
	}
}

// TestSleepAfterIdleTime checks when the sleep comes: not before the
// idle time since the last request, and at the first tick after it.
func TestSleepAfterIdleTime(t *testing.T) {
	r := newRig(t, Spec{Max: 5, Idle: 10 * time.Second, Target: 10}, 1, 1)
	r.advance(5 * time.Second)
	r.load.Start()
	r.load.End()
	r.advance(10 * time.Second) // the request is seen at the first of these ticks
	r.settle(t)
	if c := r.sc.recorded(); len(c) != 0 {
		t.Fatalf("scaled %q within the idle time", c)
	}
	r.advance(time.Second)
	if c := r.waitCalls(t, 1); len(c) != 1 || c[0] != "/s1=0" {
		t.Fatalf("scale calls %q, want one to 0", c)
	}
	r.settle(t)
	// Until the table shows it, the same count is not sent again.
	r.advance(5 * time.Second)
	if c := r.sc.recorded(); len(c) != 1 {
		t.Fatalf("scale calls %q, want one", c)
	}
	r.setCounts(0, 0)
	r.advance(time.Minute)
	st := r.a.Status(r.service())
	if len(r.sc.recorded()) != 1 || st.State != StateSleeping || !strings.HasPrefix(st.Reason, "asleep") {
		t.Fatalf("asleep: calls %q, status %+v", r.sc.recorded(), st)
	}
}

// TestIdleCountsFromTheRequestsEnd checks that a request in flight at a
// tick is seen until it ends: its idle time counts from the first tick
// after its end, not from the last tick that saw it in flight (which
// would put the service to sleep up to a tick early).
func TestIdleCountsFromTheRequestsEnd(t *testing.T) {
	r := newRig(t, Spec{Max: 5, Idle: 10 * time.Second, Target: 10}, 1, 1)
	r.advance(5 * time.Second)
	r.load.Start()
	r.advance(3 * time.Second) // in flight at these ticks
	r.load.End()               // ends between two ticks
	r.advance(10 * time.Second)
	r.settle(t)
	if c := r.sc.recorded(); len(c) != 0 {
		t.Fatalf("scaled %q within the idle time after the request ended", c)
	}
	r.advance(time.Second)
	if c := r.waitCalls(t, 1); len(c) != 1 || c[0] != "/s1=0" {
		t.Fatalf("scale calls %q, want one to 0", c)
	}
}

// TestWakeOncePerBurst checks that a burst of requests for a sleeping
// service makes one scale call, to its awake minimum, on any gateway, and
// that a failed call lets the next request try again.
func TestWakeOncePerBurst(t *testing.T) {
	for _, leader := range []bool{true, false} {
		t.Run(fmt.Sprintf("leader=%v", leader), func(t *testing.T) {
			r := newRig(t, Spec{Min: 2, Max: 5, Idle: time.Minute, Target: 10}, 0, 0)
			r.peers.set(leader)
			r.sc.block = make(chan struct{})
			var wg sync.WaitGroup
			for range 100 {
				wg.Add(1)
				go func() { defer wg.Done(); r.a.Wake(r.service()) }()
			}
			wg.Wait()
			if st := r.a.Status(r.service()); st.State != StateWaking {
				t.Errorf("state %q while waking", st.State)
			}
			close(r.sc.block)
			r.settle(t)
			for range 10 {
				r.a.Wake(r.service()) // the count does not show the wake yet
			}
			r.advance(3 * time.Second)
			if c := r.sc.recorded(); len(c) != 1 || c[0] != "/s1=2" {
				t.Fatalf("scale calls %q, want one to 2", c)
			}
			r.setCounts(0, 2)
			r.advance(time.Second)
			r.a.Routed(r.key(), "fn")
			r.setCounts(2, 2)
			r.advance(time.Second)
			if st := r.a.Status(r.service()); st.State != StateAwake {
				t.Errorf("state %q once running", st.State)
			}
			if n := testutil.CollectAndCount(r.a.metrics.wake); n != 1 {
				t.Errorf("%d wake latency series, want 1", n)
			}
			if n := testutil.ToFloat64(r.a.metrics.wakes.WithLabelValues("fn")); n != 1 {
				t.Errorf("wakes counted %v, want 1", n)
			}
		})
	}
	t.Run("failed wake", func(t *testing.T) {
		r := newRig(t, Spec{Max: 5, Idle: time.Minute, Target: 10}, 0, 0)
		r.sc.fail = errors.New("refused")
		r.a.Wake(r.service())
		r.settle(t)
		r.a.Wake(r.service())
		r.settle(t)
		if c := r.sc.recorded(); len(c) != 2 || c[1] != "/s1=1" {
			t.Fatalf("scale calls %q, want two to 1", c)
		}
	})
}

// TestWakeAfterStop checks that Wake sends nothing once Run returned.
func TestWakeAfterStop(t *testing.T) {
	r := newRig(t, Spec{Max: 5, Idle: time.Minute, Target: 10}, 0, 0)
	r.stop()
	r.a.Wake(r.service())
	if c := r.sc.recorded(); len(c) != 0 {
		t.Fatalf("scale calls %q after stop", c)
	}
}

// TestScaleFollowsTotalLoad checks that the leader decides from the load
// of every gateway, not its own share: 80 in flight on another gateway
// and 20 here, at target 10, is 10 replicas; a gateway that is not the
// leader decides the same and writes nothing.
func TestScaleFollowsTotalLoad(t *testing.T) {
	for _, leader := range []bool{true, false} {
		t.Run(fmt.Sprintf("leader=%v", leader), func(t *testing.T) {
			r := newRig(t, Spec{Min: 1, Max: 20, Target: 10}, 1, 1)
			r.peers.set(leader, Report{Gateway: "gw2", Services: map[string]ServiceLoad{r.key(): {InFlight: 80, Requests: 1}}})
			for range 20 {
				r.load.Start()
			}
			r.advance(time.Second)
			r.settle(t)
			st := r.a.Status(r.service())
			if st.Decided != 10 || !st.Panic {
				t.Errorf("decided %d (panic %v), want 10 in panic: %s", st.Decided, st.Panic, st.Reason)
			}
			want := []string{"/s1=10"}
			if !leader {
				want = nil
			}
			if c := r.sc.recorded(); strings.Join(c, " ") != strings.Join(want, " ") {
				t.Errorf("scale calls %q, want %q", c, want)
			}
			rep := r.a.Report()
			if l := rep.Services[Key("", "s1")]; rep.Gateway != "gw1" || l.InFlight != 20 || l.Requests != 20 {
				t.Errorf("own report %+v", rep)
			}
		})
	}
}

// TestLoad checks the counter: in flight up and down, requests counted
// at the start, and no allocation.
func TestLoad(t *testing.T) {
	var l Load
	for range 3 {
		l.Start()
	}
	l.End()
	if f, n := l.Read(); f != 2 || n != 3 {
		t.Fatalf("Read = %d in flight, %d requests; want 2, 3", f, n)
	}
	l.End()
	l.End()
	if f, n := l.Read(); f != 0 || n != 3 {
		t.Fatalf("Read = %d in flight, %d requests; want 0, 3", f, n)
	}
	if a := testing.AllocsPerRun(100, func() { l.Start(); l.End() }); a != 0 {
		t.Errorf("%v allocations per request", a)
	}
	if Key("blue", "abc") != "blue/abc" || Key("", "abc") != "/abc" {
		t.Errorf("Key: %q, %q", Key("blue", "abc"), Key("", "abc"))
	}
}
