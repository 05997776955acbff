package containersource

// This file holds the container source's loop: what it lists when, on
// events, timers and kicks, how a container leaves the routes at its stop
// signal, and how it publishes and backs off.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// Timing of the loop.
const (
	// A container that is gone keeps its claims, with no replica, until a
	// full listing at least holdClaims after it went: a recreate or a
	// restart leaves its routes in place, and requests wait for the new
	// container instead of finding no route.
	holdClaims = 10 * time.Second
	// A container that got its stop signal and still runs maxLeaving
	// later is routed again (it ignored the signal, or the start event of
	// its restart was missed).
	maxLeaving = time.Minute
	// eventsWarnAfter is how many event stream failures in a row are
	// worth a warning.
	eventsWarnAfter = 3
)

// loop is one run of the source: its state, touched only by the goroutine
// that runs it.
type loop struct {
	src    *Source
	opts   Options
	feed   *discovery.Feed
	lister lister

	// containers is the last listing, kept up to date by re-lists.
	containers []container.Summary
	// gone are the containers that the last listings no longer show, and
	// since when, by ID: they keep their claims for holdClaims.
	gone map[string]goneContainer
	// stopping are the containers that got their stop signal, and when,
	// by ID; stopSignals the stop signals looked up, by ID.
	stopping    map[string]time.Time
	stopSignals map[string]int
	// started are the start times the events gave, by ID.
	started map[string]time.Time

	networks []network.Summary
	netsAt   time.Time // when the networks were listed
	failures int       // listings failed in a row
	lastFull time.Time // when the last full listing succeeded
	events   eventSub
	// off is set while the Docker API refuses to list containers (a
	// docker-api that predates them): nothing to route, checked again
	// every resync interval.
	off bool
}

type goneContainer struct {
	c     container.Summary
	since time.Time
}

func (s *Source) newLoop(feed *discovery.Feed) *loop {
	return &loop{
		src:         s,
		opts:        s.opts,
		feed:        feed,
		lister:      lister{Caller: engine.Caller{Timeout: s.opts.APITimeout, Failed: feed.Stats().APIError}, api: s.API, labelPrefix: s.opts.LabelPrefix},
		gone:        make(map[string]goneContainer),
		stopping:    make(map[string]time.Time),
		stopSignals: make(map[string]int),
		started:     make(map[string]time.Time),
	}
}

func (l *loop) run(ctx context.Context) {
	timer := time.NewTimer(0) // first listing right away
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			l.resync(ctx)
		case <-l.feed.Kicked():
			// A failing request: list the containers again, all of them
			// (one call whatever their number).
			if len(l.feed.TakeKicks()) > 0 {
				l.resync(ctx)
			}
		case m := <-l.events.msgs:
			l.eventsArrived(ctx, m)
		case err := <-l.events.errs:
			if !errors.Is(err, context.Canceled) {
				l.feed.Stats().APIError(eventsEndpoint, err)
			}
			l.events.lost(err, l.now(), l.feed.Log(), l.feed.Stats().APIDown())
		}
		if ctx.Err() != nil {
			return
		}
		if !l.opts.PollOnly && l.feed.Synced() && !l.off && l.events.due(l.now()) {
			// What changed while the stream was down, unless a full
			// listing since it went down (the one its retry timer ran, say)
			// has seen it.
			missed := l.events.failures > 0 && !l.lastFull.After(l.events.lostAt)
			l.events.open(ctx, l.lister)
			if missed {
				l.resync(ctx)
			}
		}
		engine.ResetTimer(timer, l.nextDelay())
	}
}

func (l *loop) now() time.Time { return l.feed.Now() }

// resync lists every opted-in container, and the networks when they are
// due, and drops the claims of containers gone for holdClaims.
func (l *loop) resync(ctx context.Context) {
	l.refresh(ctx, true, func(ctx context.Context) error {
		cs, err := l.lister.containers(ctx, nil)
		if err != nil {
			return err
		}
		if err := l.listNetworks(ctx, cs, l.now().Sub(l.netsAt) >= l.opts.ResyncInterval || !l.events.isOpen()); err != nil {
			return err
		}
		now := l.now()
		l.replace(cs, nil, now)
		listed := make(map[string]bool, len(cs))
		for _, c := range cs {
			listed[c.ID] = true
		}
		maps.DeleteFunc(l.gone, func(_ string, g goneContainer) bool { return now.Sub(g.since) >= holdClaims })
		maps.DeleteFunc(l.stopping, func(id string, at time.Time) bool { return !listed[id] || now.Sub(at) >= maxLeaving })
		maps.DeleteFunc(l.stopSignals, func(id string, _ int) bool { return !listed[id] })
		maps.DeleteFunc(l.started, func(id string, _ time.Time) bool { return !listed[id] })
		l.lastFull = now
		return nil
	})
}

// relist lists the containers of the given IDs again: those not listed
// any more are gone.
func (l *loop) relist(ctx context.Context, ids []string) {
	l.refresh(ctx, false, func(ctx context.Context) error {
		cs, err := l.lister.containers(ctx, ids)
		if err != nil {
			return err
		}
		if err := l.listNetworks(ctx, cs, false); err != nil {
			return err
		}
		l.replace(cs, ids, l.now())
		return nil
	})
}

// listNetworks lists the networks again if force is set or a container
// is on a network the last listing did not have.
func (l *loop) listNetworks(ctx context.Context, cs []container.Summary, force bool) error {
	if !force && !l.netsAt.IsZero() && indexNetworks(l.networks, nil).knows(cs) {
		return nil
	}
	nets, err := l.lister.networks(ctx)
	if err != nil {
		return err
	}
	l.networks, l.netsAt = nets, l.now()
	return nil
}

// replace puts a listing of the containers of ids (all of them when ids
// is nil) in place of what the loop had of them: a container it does not
// show is gone since now.
func (l *loop) replace(cs []container.Summary, ids []string, now time.Time) {
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	listed := make(map[string]bool, len(cs))
	for _, c := range cs {
		listed[c.ID] = true
		delete(l.gone, c.ID)
	}
	kept := make([]container.Summary, 0, len(l.containers)+len(cs))
	for _, c := range l.containers {
		switch {
		case ids != nil && !asked[c.ID]:
			kept = append(kept, c) // not re-listed
		case !listed[c.ID]:
			l.gone[c.ID] = goneContainer{c: c, since: now}
		}
	}
	l.containers = append(kept, cs...)
}

// state is what the loop knows, to build a table from.
func (l *loop) state() State {
	st := State{
		Containers: slices.Clone(l.containers),
		Leaving:    make(map[string]bool, len(l.stopping)+len(l.gone)),
		Started:    l.started,
		Networks:   l.networks,
		LocalAddrs: l.src.LocalAddrs(),
	}
	for id := range l.stopping {
		st.Leaving[id] = true
	}
	for id, g := range l.gone {
		st.Containers = append(st.Containers, g.c)
		st.Leaving[id] = true
	}
	return st
}

// eventsArrived handles an event and those queued behind it with one
// listing, of the containers they name; a kill event with a container's
// stop signal takes it out of the routes at once, before it exits.
func (l *loop) eventsArrived(ctx context.Context, first events.Message) {
	named := make(map[string]bool)
	leaving := false
	for _, m := range l.events.burst(first, l.feed.Log()) {
		l.feed.Stats().Event()
		id := m.Actor.ID
		switch {
		case id == "" || m.Type != events.ContainerEventType:
		case m.Action == events.ActionKill:
			if l.isStopSignal(ctx, id, killSignal(m.Actor.Attributes)) {
				l.stopping[id] = l.now()
				leaving = true
			}
		case m.Action == events.ActionStart:
			delete(l.stopping, id)
			if m.TimeNano != 0 {
				l.started[id] = time.Unix(0, m.TimeNano).UTC()
			}
			named[id] = true
		default:
			named[id] = true
		}
	}
	switch {
	case !l.feed.Synced() || l.failures > 0 || len(named) > maxFilterIDs:
		l.resync(ctx)
	case len(named) > 0:
		l.relist(ctx, slices.Sorted(maps.Keys(named)))
	case leaving:
		l.refresh(ctx, false, func(context.Context) error { return nil })
	}
}

// isStopSignal reports whether a kill event's signal means that the
// container is leaving: SIGTERM, SIGKILL or its own stop signal (looked up
// once per container, and only for one that is routed). Other signals
// (SIGHUP to reload, say) do not.
func (l *loop) isStopSignal(ctx context.Context, id string, sig int) bool {
	switch {
	case sig == sigTerm || sig == sigKill:
		return true
	case sig == 0 || !slices.ContainsFunc(l.containers, func(c container.Summary) bool { return c.ID == id }):
		return false
	}
	own, ok := l.stopSignals[id]
	if !ok {
		var err error
		if own, err = l.lister.stopSignal(ctx, id); err != nil {
			l.feed.Log().Debug("container's stop signal unknown; a kill signal other than SIGTERM and SIGKILL does not take it out of the routes",
				zap.String("container", id), zap.Error(err))
			return false
		}
		l.stopSignals[id] = own
	}
	return sig == own
}

// refresh runs one listing (full, or of some containers) and publishes
// its table. A panic, from an engine answer the code did not expect,
// fails this listing only: it is logged with its stack and retried with
// backoff, so one odd answer cannot stop the loop.
func (l *loop) refresh(ctx context.Context, full bool, list func(context.Context) error) {
	defer engine.RecoverListing(l.feed.Log(), "the containers", func(err error) { l.failed(ctx, err) })
	start := l.now()
	err := list(ctx)
	if full {
		l.feed.Stats().Resynced(err == nil, l.now().Sub(start))
	}
	if cerrdefs.IsPermissionDenied(err) {
		l.turnOff(err)
		return
	}
	if err != nil {
		l.failed(ctx, err)
		return
	}
	if l.off {
		l.off = false
		l.feed.Log().Info("docker api lists containers now: routing them", zap.String("docker_host", l.src.Engine()))
	}
	t, rep := Build(l.state(), l.opts)
	l.feed.Publish(t, rep, full)
	l.failures = 0
}

// turnOff turns the source off while the Docker API refuses to list
// containers: one warning, no route, and for readiness nothing left to
// list; it asks again every resync interval, quietly.
func (l *loop) turnOff(err error) {
	if !l.off {
		l.off = true
		l.feed.Log().Warn("docker api refuses to list containers (a docker-api older than the gateway?): standalone containers are not routed; set containers off to route services only",
			zap.String("docker_host", l.src.Engine()), zap.Error(err))
	}
	l.events.close()
	l.containers, l.failures, l.lastFull = nil, 0, l.now()
	clear(l.gone)
	clear(l.stopping)
	l.feed.Off()
}

// failed records a failed listing, to be retried with backoff.
func (l *loop) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.failures++
	l.feed.Failed(err)
}

// nextDelay is how long to wait before the next listing: backoff after a
// failure, otherwise until the periodic full listing is due; and no
// longer than the event stream's own retry while it is down.
func (l *loop) nextDelay() time.Duration {
	idle := l.opts.ResyncInterval
	d := max(0, idle-l.now().Sub(l.lastFull))
	if l.failures > 0 {
		d = engine.Backoff(l.failures)
	}
	if !l.opts.PollOnly && l.events.failures > 0 {
		d = min(d, engine.Backoff(l.events.failures))
	}
	return min(d, idle)
}
