package swarmsource

// This file holds the swarm source's loop: what it lists when, on events,
// timers and kicks, and how it publishes and backs off.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// Timing of the loop.
const (
	// A service that keeps converging for longer than stuckAfter (a task
	// failing its health check forever, say) is re-listed every
	// stuckInterval instead of every converge interval.
	stuckAfter    = time.Minute
	stuckInterval = 2 * time.Second
	// A starting service (one that wants a replica and has none running:
	// woken from zero, say, with requests held until it runs) is re-listed
	// alone every startingInterval, for up to startingFor, so its first
	// replica is routed within tens of milliseconds of running rather than
	// up to a converge interval later. The other converging services keep
	// their converge interval.
	startingInterval = 25 * time.Millisecond
	startingFor      = 15 * time.Second
)

// loop is one run of the source: its state, touched only by the goroutine
// that runs it. What it published last (the table and the report of the
// converging services) is its feed's to hold.
type loop struct {
	src    *Source
	opts   Options
	feed   *discovery.Feed
	lister lister

	last     State // the last listing, kept up to date by re-lists
	failures int   // listings failed in a row
	// convergingSince is when the current convergence began.
	convergingSince time.Time
	// lastConverge is when all converging services were last re-listed.
	lastConverge time.Time
	// starting holds when each starting service (by ID) was first seen
	// starting.
	starting map[string]time.Time
	// lastFull is when the last full listing succeeded.
	lastFull time.Time
	nets     networkCache
	stream   eventStream
	// off is set while the engine is no swarm manager: nothing to route,
	// checked again every resync interval.
	off bool
}

func (s *Source) newLoop(feed *discovery.Feed) *loop {
	return &loop{
		src:  s,
		opts: s.opts,
		feed: feed,
		lister: lister{Caller: engine.Caller{Timeout: s.opts.APITimeout, Failed: func(endpoint string, err error) {
			if !notManager(err) { // not an error: a plain engine
				feed.Stats().APIError(endpoint, err)
			}
		}}, api: s.API, labelPrefix: s.opts.LabelPrefix, now: feed.Now},
		stream:   eventStream{now: feed.Now},
		starting: make(map[string]time.Time),
	}
}

func (l *loop) run(ctx context.Context) {
	timer := time.NewTimer(0) // first resync right away
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			l.timerFired(ctx)
		case <-l.feed.Kicked():
			l.relistKicked(ctx)
		case s := <-l.stream.opened:
			if l.stream.open(s) {
				// A full listing, networks too: it covers the changes
				// made while the stream opened.
				l.nets.stale = true
				l.resync(ctx)
			}
		case m := <-l.stream.msgs():
			l.eventsArrived(ctx, m)
		case err := <-l.stream.errs():
			if !errors.Is(err, context.Canceled) {
				l.feed.Stats().APIError(eventsEndpoint, err)
			}
			l.stream.lost(err, l.feed.Log(), l.feed.Stats().APIDown())
		}
		if ctx.Err() != nil {
			return
		}
		if !l.opts.PollOnly && l.feed.Synced() && !l.off {
			l.stream.ensureOpen(ctx, l.lister.api)
		}
		engine.ResetTimer(timer, l.nextDelay())
	}
}

// report is the report of what the loop published last.
func (l *loop) report() discovery.Report { return l.feed.Last().Report }

// timerFired runs the listing that is due. While services converge, the
// event stream is open (or poll_only is set) and the periodic resync is not
// due, that is a re-list of the converging services only (of the starting
// ones only, between two converge intervals); otherwise (resync_interval
// elapsed, retrying after a failure, or re-listing because the event
// stream is down) a full one.
func (l *loop) timerFired(ctx context.Context) {
	ids := convergingIDs(l.report())
	partial := len(ids) > 0 && l.feed.Synced() && l.failures == 0 &&
		(l.opts.PollOnly || l.stream.isOpen()) &&
		l.now().Sub(l.lastFull) < l.opts.ResyncInterval
	if !partial {
		l.resync(ctx)
		return
	}
	if fast := l.hurried(); len(fast) > 0 && l.now().Sub(l.lastConverge) < l.convergeInterval() {
		ids = fast
	} else {
		l.lastConverge = l.now()
	}
	l.relistServices(ctx, ids)
}

// trackStarting notes when each starting service of the last report began
// starting, and forgets the others.
func (l *loop) trackStarting() {
	svcs := l.report().Services
	seen := make(map[string]bool, len(l.starting))
	for _, s := range svcs {
		if !s.Starting {
			continue
		}
		seen[s.ID] = true
		if _, ok := l.starting[s.ID]; !ok {
			l.starting[s.ID] = l.now()
		}
	}
	maps.DeleteFunc(l.starting, func(id string, _ time.Time) bool { return !seen[id] })
}

// hurried returns the IDs, sorted, of the services starting for less than
// startingFor: those re-listed every startingInterval.
func (l *loop) hurried() []string {
	var ids []string
	for id, since := range l.starting {
		if l.now().Sub(since) < startingFor {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// convergeInterval is how often the converging services are re-listed:
// converge_interval, slowed down once the convergence lasts stuckAfter.
func (l *loop) convergeInterval() time.Duration {
	c := l.opts.ConvergeInterval
	if !l.convergingSince.IsZero() && l.now().Sub(l.convergingSince) > stuckAfter {
		c = max(c, stuckInterval)
	}
	return c
}

// eventsArrived handles an event and those queued behind it with one
// listing: of the services they name (created, updated or removed) and
// their tasks; of the networks when one is a network event; a full one
// when an event names no service, before the first full listing, after a
// failure, or for more services than one call filters by.
func (l *loop) eventsArrived(ctx context.Context, m events.Message) {
	named := make(map[string]bool)
	full := false
	for _, m := range l.stream.burst(m, l.feed.Log()) {
		l.feed.Stats().Event()
		switch {
		case m.Type == events.NetworkEventType:
			l.nets.stale = true
		case m.Actor.ID == "":
			full = true
		default:
			named[m.Actor.ID] = true
		}
	}
	switch {
	case full || !l.feed.Synced() || l.failures > 0 || len(named) > maxFilterIDs:
		l.resync(ctx)
	case len(named) > 0:
		ids := slices.Sorted(maps.Keys(named))
		l.relistServices(ctx, ids)
	default:
		l.relistNetworks(ctx)
	}
}

// resync lists all opted-in services and their tasks, and the networks
// when they are due, builds a new table and swaps it in.
func (l *loop) resync(ctx context.Context) {
	l.refresh(ctx, true, func(ctx context.Context) (State, error) {
		st, err := l.lister.listAll(ctx, &l.nets, l.networksDue())
		st.LocalAddrs = l.src.LocalAddrs()
		return st, err
	})
}

// networksDue reports whether a full listing must list the networks even
// if no service is on a network it does not know: at the periodic resync,
// and whenever no event stream would announce a network change.
func (l *loop) networksDue() bool {
	return l.now().Sub(l.nets.listedAt) >= l.opts.ResyncInterval || !l.stream.isOpen()
}

// relistServices re-lists the given services (converging, or named by
// events) and their tasks, and only theirs, into the last listing; a
// service not listed any more is gone.
func (l *loop) relistServices(ctx context.Context, ids []string) {
	l.refresh(ctx, false, func(ctx context.Context) (State, error) {
		part, err := l.lister.listServices(ctx, ids, &l.nets, false)
		if err != nil {
			return State{}, err
		}
		st := l.last.withServices(ids, part.Services, part.Tasks)
		st.Networks = part.Networks
		return st, nil
	})
}

// relistNetworks lists the networks, which a network event may have
// changed, and rebuilds the table from the last listing with them.
func (l *loop) relistNetworks(ctx context.Context) {
	l.refresh(ctx, false, func(ctx context.Context) (st State, err error) {
		st = l.last
		st.Networks, err = l.lister.networks(ctx, &l.nets, st.Services, true)
		st.LocalAddrs = l.src.LocalAddrs() // the gateway's own networks may have changed too
		return st, err
	})
}

// convergingIDs returns the IDs of the converging services, sorted.
func convergingIDs(r discovery.Report) []string {
	var ids []string
	for _, s := range r.Services {
		if s.Converging {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// now is the watcher's clock.
func (l *loop) now() time.Time { return l.feed.Now() }

// relistKicked re-lists the tasks of the services that failing requests
// asked about, and only theirs.
func (l *loop) relistKicked(ctx context.Context) {
	ids := l.feed.TakeKicks()
	switch {
	case len(ids) == 0:
	case !l.feed.Synced():
		l.resync(ctx)
	default:
		l.refresh(ctx, false, func(ctx context.Context) (State, error) {
			tasks, err := l.lister.listTasks(ctx, ids...)
			return l.last.withTasksOf(ids, tasks), err
		})
	}
}

// refresh runs one listing (full, or of some services' tasks) and
// publishes its table. A panic, from an engine answer the code did not
// expect, fails this listing only: it is logged with its stack and retried
// with backoff, so one odd answer cannot stop the loop.
func (l *loop) refresh(ctx context.Context, full bool, list func(context.Context) (State, error)) {
	defer engine.RecoverListing(l.feed.Log(), "the swarm", func(err error) { l.failed(ctx, err) })
	start := l.now()
	st, err := list(ctx)
	if full {
		l.feed.Stats().Resynced(err == nil || notManager(err), l.now().Sub(start))
	}
	if notManager(err) {
		l.turnOff()
		return
	}
	if err != nil {
		l.failed(ctx, err)
		return
	}
	if l.off {
		l.off = false
		l.feed.Log().Info("docker engine is a swarm manager now: routing its services", zap.String("docker_host", l.src.Engine()))
	}
	if full {
		l.stream.checkDeaf(st.Services, l.feed.Log())
		l.lastFull = l.now()
	}
	t, rep := Build(st, l.opts)
	l.feed.Publish(t, rep, full)
	l.last = st
	l.failures = 0
}

// notManager reports whether an error is the engine's answer that it is
// no swarm manager (a plain engine, or a worker), which the swarm
// endpoints give with 503.
func notManager(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not a swarm manager")
}

// turnOff turns the source off on an engine that is no swarm manager: not
// an error and no retry, but one info log, no route and, for readiness,
// nothing left to list; it checks again every resync interval, quietly.
func (l *loop) turnOff() {
	if !l.off {
		l.off = true
		l.feed.Log().Info("docker engine is no swarm manager: no swarm service to route; checking again every resync_interval",
			zap.String("docker_host", l.src.Engine()))
	}
	l.stream.reset()
	l.last, l.failures, l.lastFull = State{}, 0, l.now()
	l.feed.Off()
}

// failed records a failed listing, to be retried with backoff.
func (l *loop) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.failures++
	l.nets.stale = true // list them again once the API answers
	l.feed.Failed(err)
}

// nextDelay is how long to wait before the next listing: backoff after a
// failure, the converge interval while a service converges (slowing down
// after stuckAfter; startingInterval while one starts), otherwise until the periodic full listing is due
// (however many events came since the last one: they re-list only what
// they name); and no longer than the event stream's own retry while it is
// down.
func (l *loop) nextDelay() time.Duration {
	idle := l.opts.ResyncInterval
	d := max(0, idle-l.now().Sub(l.lastFull))
	switch {
	case l.failures > 0:
		d = engine.Backoff(l.failures)
	case l.report().Converging():
		if l.convergingSince.IsZero() {
			l.convergingSince = l.now()
		}
		d = min(d, l.convergeInterval())
		if l.trackStarting(); len(l.hurried()) > 0 {
			d = min(d, startingInterval)
		}
	default:
		l.convergingSince = time.Time{}
		clear(l.starting)
	}
	if retry, down := l.stream.retryIn(); !l.opts.PollOnly && down {
		d = min(d, retry)
	}
	return min(d, idle)
}
