package scaling

// This file holds the autoscaler: the loop that samples every scaled
// service's load each tick, decides its count and, on the deciding
// gateway, writes it; and the wake that any gateway's request path asks
// for.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Service is a scaled service as the current route table has it.
type Service struct {
	// Engine names its Docker engine, "" for the one engine of a gateway
	// that reads one; ID and Name are its service ID and name.
	Engine, ID, Name string
	// Spec is what its scaling labels allow.
	Spec Spec
	// Running are its replicas running, Desired the count of its spec.
	Running, Desired uint64
	// Load counts its requests on this gateway.
	Load *Load
}

// Key is the service's Key.
func (s Service) Key() string { return Key(s.Engine, s.ID) }

// Scaler writes a service's replica count on its engine.
type Scaler interface {
	Scale(ctx context.Context, engine, serviceID string, replicas uint64) error
}

// Options are what an autoscaler reads, writes and decides with.
type Options struct {
	// Services returns the scaled services of the current route table.
	// Required.
	Services func() []Service
	// Scaler writes the counts. Required.
	Scaler Scaler
	// Peers are the other gateways. Default: Single{}
	Peers Peers
	// Gateway names this gateway in its Report.
	Gateway string
	// Windows are the decider's time constants.
	Windows Windows
	// WakeRetry is how long a wake that was sent and has not yet shown in
	// the service's desired count holds back another. Default: 10s
	WakeRetry time.Duration
	// Now is the clock. Default: time.Now
	Now func() time.Time
	// Log is the logger. Default: a no-op logger
	Log *zap.Logger
}

// DefaultWakeRetry is the default of Options.WakeRetry.
const DefaultWakeRetry = 10 * time.Second

// States of a scaled service, as the routes API shows them.
const (
	StateSleeping = "sleeping" // 0 replicas wanted, none running
	StateWaking   = "waking"   // replicas wanted (or a wake sent), none running yet
	StateAwake    = "awake"    // replicas running
)

// Autoscaler decides the replica count of every scaled service from the
// load all gateways see, and on the leader (Peers.Leader) writes it: up
// and down with the load, and to 0 after the service's idle time without
// a request on any gateway. Any gateway wakes a sleeping service on its
// own requests (Wake). Run runs it; whoever calls Run owns it.
type Autoscaler struct {
	opts    Options
	metrics *metrics

	// ctx is the context of the scale calls, canceled when Run ends.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the scale calls in flight

	mu      sync.Mutex
	stopped bool
	states  map[string]*state // by Key
	// services are those of the last tick: what Report reads.
	services []Service
}

// state is what the autoscaler keeps of one service, under its mu.
type state struct {
	svc      Service
	decider  *Decider
	decision Decision
	// lastSeen is when a gateway last saw a request (or the service was
	// first seen): the idle time counts from it.
	lastSeen time.Time
	requests uint64            // this gateway's count at the last tick
	peerReqs map[string]uint64 // each peer's, by gateway
	busy     bool              // a gateway had a request in flight at the last tick
	// writing is set while a scale call of the decider is in flight;
	// wrote and wroteAt are the count it last sent and when.
	writing bool
	wrote   uint64
	wroteAt time.Time
	// waking is set while a wake's scale call is in flight; wokeAt is
	// when the last one was sent, zero once the count shows it.
	waking bool
	wokeAt time.Time
	// burst is when the first request of the current wake arrived, zero
	// once a replica is routed (the wake latency is observed then).
	burst time.Time
}

// New returns an autoscaler; Run runs it.
func New(opts Options) *Autoscaler {
	if opts.Peers == nil {
		opts.Peers = Single{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.WakeRetry <= 0 {
		opts.WakeRetry = DefaultWakeRetry
	}
	opts.Windows = opts.Windows.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Autoscaler{opts: opts, metrics: newMetrics(), ctx: ctx, cancel: cancel, states: make(map[string]*state)}
}

// Run ticks until ctx ends, then cancels the scale calls in flight and
// waits for them. Wake sends nothing once Run has returned.
func (a *Autoscaler) Run(ctx context.Context) {
	defer a.stop()
	t := time.NewTicker(a.opts.Windows.Tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.tick()
		case <-ctx.Done():
			return
		}
	}
}

// stop ends the scale calls and waits for them.
func (a *Autoscaler) stop() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}

// tick samples every service's load, decides, and on the leader writes.
func (a *Autoscaler) tick() {
	defer func() {
		if err := recover(); err != nil {
			a.opts.Log.Error("autoscaler tick panicked", zap.Any("error", err), zap.Stack("stack"))
		}
	}()
	now := a.opts.Now()
	svcs := a.opts.Services()
	reports := a.opts.Peers.Reports()
	leader := a.opts.Peers.Leader()

	a.mu.Lock()
	defer a.mu.Unlock()
	a.services = svcs
	seen := make(map[string]bool, len(svcs))
	a.metrics.current.Reset()
	a.metrics.desired.Reset()
	for _, svc := range svcs {
		key := svc.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		st := a.stateOf(key, now)
		if st.svc.Desired == 0 && svc.Desired > 0 {
			st.lastSeen = now // woken (here or elsewhere): its idle time starts again
		}
		st.svc = svc
		total := a.sample(st, reports, now)
		if svc.Desired > 0 {
			st.wokeAt = time.Time{} // the wake (if any) shows in the count
		}
		st.decision = a.decide(st, total, now)
		a.metrics.current.WithLabelValues(svc.Name).Set(float64(svc.Running))
		a.metrics.desired.WithLabelValues(svc.Name).Set(float64(st.decision.Desired))
		if leader {
			a.write(st, now)
		}
	}
	for key := range a.states {
		if !seen[key] {
			delete(a.states, key)
		}
	}
}

// stateOf returns the state of the service key, new (seen now) if it
// has none. a.mu is held.
func (a *Autoscaler) stateOf(key string, now time.Time) *state {
	st := a.states[key]
	if st == nil {
		st = &state{decider: NewDecider(a.opts.Windows), lastSeen: now, peerReqs: make(map[string]uint64)}
		a.states[key] = st
	}
	return st
}

// sample returns the service's requests in flight on every gateway, and
// moves its lastSeen to now if any gateway saw a request since the last
// tick. a.mu is held.
func (a *Autoscaler) sample(st *state, reports []Report, now time.Time) float64 {
	key := st.svc.Key()
	inFlight, requests := st.svc.Load.Read()
	total := float64(inFlight)
	// A request in flight at the last tick was seen until it ended,
	// which is after that tick.
	active := inFlight > 0 || requests != st.requests || st.busy
	st.requests = requests
	for _, r := range reports {
		l, ok := r.Services[key]
		if !ok {
			continue
		}
		total += l.InFlight
		prev, had := st.peerReqs[r.Gateway]
		active = active || l.InFlight > 0 || (had && prev != l.Requests)
		st.peerReqs[r.Gateway] = l.Requests
	}
	if active {
		st.lastSeen = now
	}
	st.busy = total > 0
	return total
}

// decide returns the count for a service with total requests in flight.
// a.mu is held.
func (a *Autoscaler) decide(st *state, total float64, now time.Time) Decision {
	svc := st.svc
	asleep := svc.Desired == 0 && svc.Running == 0
	if asleep && total == 0 {
		st.decider.Reset()
		return Decision{Desired: 0, Reason: fmt.Sprintf("asleep: no request since %s", st.lastSeen.UTC().Format(time.RFC3339))}
	}
	d := st.decider.Decide(now, total, svc.Running, svc.Spec)
	if idle := svc.Spec.Idle; idle > 0 && now.Sub(st.lastSeen) >= idle {
		return Decision{Desired: 0, Reason: fmt.Sprintf("idle: no gateway saw a request for %v (idle time %v)", now.Sub(st.lastSeen).Truncate(time.Second), idle)}
	}
	return d
}

// write sends the decided count if it differs from the service's, unless
// a call is in flight, a wake has not shown yet, or the same count was
// sent within the wake retry. a.mu is held.
func (a *Autoscaler) write(st *state, now time.Time) {
	n, svc := st.decision.Desired, st.svc
	switch {
	case n == svc.Desired, st.writing, st.waking, !st.wokeAt.IsZero(), a.stopped:
		return
	case n == st.wrote && now.Sub(st.wroteAt) < a.opts.WakeRetry:
		return
	}
	st.writing, st.wrote, st.wroteAt = true, n, now
	switch {
	case n == 0:
		a.metrics.sleeps.WithLabelValues(svc.Name).Inc()
	case n > svc.Desired:
		a.metrics.decisions.WithLabelValues(svc.Name, DirectionUp).Inc()
	default:
		a.metrics.decisions.WithLabelValues(svc.Name, DirectionDown).Inc()
	}
	reason := st.decision.Reason
	a.call(svc, n, func(err error) {
		st.writing = false
		if err != nil {
			st.wroteAt = time.Time{} // try again at the next tick
			a.opts.Log.Warn("scaling a service failed", zap.String("service", svc.Name), zap.Uint64("replicas", n), zap.Error(err))
			return
		}
		a.opts.Log.Info("service scaled", zap.String("service", svc.Name), zap.Uint64("from", svc.Desired), zap.Uint64("replicas", n), zap.String("reason", reason))
	})
}

// call sends a scale call in a goroutine of its own and calls done with
// its result under a.mu. a.mu is held.
func (a *Autoscaler) call(svc Service, n uint64, done func(error)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := a.opts.Scaler.Scale(a.ctx, svc.Engine, svc.ID, n)
		a.mu.Lock()
		defer a.mu.Unlock()
		done(err)
	}()
}

// Wake asks for a sleeping service to wake: from the request path of any
// gateway, for a request that found no replica. The first request of a
// burst sends one scale call to the service's awake minimum; the others,
// while that call is in flight or until the count shows it, send none.
// It never blocks on the call.
func (a *Autoscaler) Wake(svc Service) {
	now := a.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	st := a.stateOf(svc.Key(), now)
	st.lastSeen = now
	if st.burst.IsZero() {
		st.burst = now
	}
	if svc.Desired > 0 || st.waking || (!st.wokeAt.IsZero() && now.Sub(st.wokeAt) < a.opts.WakeRetry) {
		return // waking already: its replicas are on their way
	}
	if st.svc.ID == "" {
		st.svc = svc
	}
	n := svc.Spec.Awake()
	st.waking, st.wokeAt = true, now
	st.decider.Reset()
	a.metrics.wakes.WithLabelValues(svc.Name).Inc()
	a.call(svc, n, func(err error) {
		st.waking = false
		if err != nil {
			st.wokeAt = time.Time{} // the next request tries again
			a.opts.Log.Warn("waking a service failed", zap.String("service", svc.Name), zap.Uint64("replicas", n), zap.Error(err))
			return
		}
		a.opts.Log.Info("service woken", zap.String("service", svc.Name), zap.Uint64("replicas", n))
	})
}

// Routed says that a request held for a wake of the service key found a
// replica: the first after a wake observes the wake latency.
func (a *Autoscaler) Routed(key, name string) {
	now := a.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.states[key]; st != nil && !st.burst.IsZero() {
		a.metrics.wake.WithLabelValues(name).Observe(now.Sub(st.burst).Seconds())
		st.burst = time.Time{}
	}
}

// Report returns this gateway's load of every scaled service: what its
// peers read of it.
func (a *Autoscaler) Report() Report {
	a.mu.Lock()
	svcs := a.services
	a.mu.Unlock()
	r := Report{Gateway: a.opts.Gateway, Services: make(map[string]ServiceLoad, len(svcs))}
	for _, s := range svcs {
		inFlight, requests := s.Load.Read()
		r.Services[s.Key()] = ServiceLoad{InFlight: float64(inFlight), Requests: requests}
	}
	return r
}

// Status is what the autoscaler tells of one service.
type Status struct {
	// State is StateSleeping, StateWaking or StateAwake.
	State string
	// Decided is the count last decided, and Reason why; Panic is true
	// while the decider panics.
	Decided uint64
	Reason  string
	Panic   bool
	// Leader is true if this gateway writes the decisions.
	Leader bool
}

// Status returns the state of svc (as the current table has it) and the
// autoscaler's last decision about it. A nil autoscaler (scaling off)
// decides nothing.
func (a *Autoscaler) Status(svc Service) Status {
	if a == nil {
		return Status{State: stateOf(svc, false), Decided: svc.Desired, Reason: "scaling is off"}
	}
	s := Status{Leader: a.opts.Peers.Leader()}
	a.mu.Lock()
	defer a.mu.Unlock()
	s.Decided, s.Reason = svc.Desired, "not decided yet"
	st := a.states[svc.Key()]
	if st != nil && st.decision.Reason != "" {
		s.Decided, s.Reason, s.Panic = st.decision.Desired, st.decision.Reason, st.decision.Panic
	}
	s.State = stateOf(svc, st != nil && (st.waking || !st.wokeAt.IsZero()))
	return s
}

// stateOf is the state of svc, waking if a wake was sent for it.
func stateOf(svc Service, waking bool) string {
	switch {
	case svc.Running > 0:
		return StateAwake
	case svc.Desired > 0 || waking:
		return StateWaking
	}
	return StateSleeping
}
