package caddymodule

// This file holds the watcher: the goroutine that keeps a route table in
// step with the swarm, and its loop.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap"
)

// Timing of the watcher.
const (
	// Backoff bounds for retrying the Docker API and the event stream.
	minBackoff = 250 * time.Millisecond
	maxBackoff = time.Second
	// A service that keeps converging for longer than stuckAfter (a task
	// failing its health check forever, say) is re-listed every
	// stuckInterval instead of every converge_interval.
	stuckAfter    = time.Minute
	stuckInterval = 2 * time.Second
)

// watcher keeps a route table in step with the swarm. It is driven by the
// Docker event stream (service and network events: it re-lists the
// services they name, or the networks), re-lists the converging services
// every converge_interval while some converge, lists everything every
// resync_interval as a safety net, and re-lists the tasks of a service
// whose requests fail. What a listing costs grows with what it is about,
// not with the swarm: a full one asks for the opted-in services, their
// tasks and (when a network event, a new network or the periodic resync
// says so) the networks, in at most three calls; a re-list that an event
// or a convergence causes asks for those services and their tasks only.
// Requests only read the table through an atomic pointer: no request ever
// waits on Docker.
type watcher struct {
	lister lister
	opts   Discovery
	// log returns the logger to use now. The watcher outlives the config
	// that started it, so it logs through the process's current logger.
	log func() *zap.Logger

	current  atomic.Pointer[routeTable]
	services atomic.Pointer[map[string]serviceStatus] // by service name
	report   atomic.Pointer[buildReport]              // of the current table
	kicks    kickSet
	cancel   context.CancelFunc
	done     chan struct{}
	// synced is closed when the first full listing has been published:
	// until then the table is empty because nothing is known yet, not
	// because no service claims anything.
	synced chan struct{}

	// localAddrs returns the gateway's own addresses; replaced in tests.
	localAddrs func() []netip.Addr

	// metrics counts requests and discovery; collector exports them.
	metrics   *watcherMetrics
	collector *collector
}

// startWatcher starts a watcher's loop. Destruct stops it.
func startWatcher(api dockerAPI, d Discovery) *watcher {
	w := newWatcher(api, d)
	w.start()
	return w
}

func newWatcher(api dockerAPI, d Discovery) *watcher {
	m := newWatcherMetrics()
	w := &watcher{
		lister:     lister{api: api, labelPrefix: d.LabelPrefix, timeout: time.Duration(d.APITimeout), now: time.Now, failed: m.discovery.apiError},
		opts:       d,
		log:        func() *zap.Logger { return caddy.Log().Named("swarm") },
		kicks:      newKickSet(),
		done:       make(chan struct{}),
		synced:     make(chan struct{}),
		localAddrs: interfaceAddrs,
		metrics:    m,
	}
	w.collector = &collector{w: w}
	w.current.Store(emptyTable)
	w.services.Store(&map[string]serviceStatus{})
	return w
}

// start runs the loop in a goroutine that Destruct stops.
func (w *watcher) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx)
}

// table returns the current route table. It never blocks.
func (w *watcher) table() *routeTable { return w.current.Load() }

// firstSync returns a channel closed once the first full listing has been
// published.
func (w *watcher) firstSync() <-chan struct{} { return w.synced }

// Destruct stops the loop, waits for it to exit and closes the client.
// It implements caddy.Destructor, called when the last module using this
// watcher is cleaned up.
func (w *watcher) Destruct() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	return w.lister.api.Close()
}

// loopState is the loop's own state; only the loop goroutine touches it.
type loopState struct {
	last     swarmState  // the last listing, kept up to date by re-lists
	report   buildReport // what building the current table found
	synced   bool        // a full listing has succeeded
	failures int         // listings failed in a row
	down     bool        // the Docker API is failing; logged once
	// convergingSince is when the current convergence began.
	convergingSince time.Time
	// lastFull is when the last full listing succeeded.
	lastFull time.Time
	nets     networkCache
	stream   eventStream
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	var ls loopState
	defer ls.stream.close()

	timer := time.NewTimer(0) // first resync right away
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			w.timerFired(ctx, &ls)
		case <-w.kicks.wake:
			w.relistKicked(ctx, &ls)
		case s := <-ls.stream.opened:
			if ls.stream.open(s) {
				// A full listing, networks too: it covers the changes
				// made while the stream opened.
				ls.nets.stale = true
				w.resync(ctx, &ls)
			}
		case m := <-ls.stream.msgs():
			w.eventsArrived(ctx, &ls, m)
		case err := <-ls.stream.errs():
			if !errors.Is(err, context.Canceled) {
				w.metrics.discovery.apiError(eventsEndpoint, err)
			}
			ls.stream.lost(err, w.log(), ls.down)
		}
		if ctx.Err() != nil {
			return
		}
		if !w.opts.PollOnly && ls.synced {
			ls.stream.ensureOpen(ctx, w.lister.api)
		}
		resetTimer(timer, w.nextDelay(&ls))
	}
}

// timerFired runs the listing that is due. While services converge, the
// event stream is open (or poll_only is set) and the periodic resync is not
// due, that is a re-list of the converging services only; otherwise
// (resync_interval elapsed, retrying after a failure, or re-listing because
// the event stream is down) a full one.
func (w *watcher) timerFired(ctx context.Context, ls *loopState) {
	ids := convergingIDs(ls.report)
	partial := len(ids) > 0 && ls.synced && ls.failures == 0 &&
		(w.opts.PollOnly || ls.stream.sub.msgs != nil) &&
		w.now().Sub(ls.lastFull) < time.Duration(w.opts.ResyncInterval)
	if partial {
		w.relistServices(ctx, ls, ids)
		return
	}
	w.resync(ctx, ls)
}

// eventsArrived handles an event and those queued behind it with one
// listing: of the services they name (created, updated or removed) and
// their tasks; of the networks when one is a network event; a full one
// when an event names no service, before the first full listing, after a
// failure, or for more services than one call filters by.
func (w *watcher) eventsArrived(ctx context.Context, ls *loopState, m events.Message) {
	named := make(map[string]bool)
	full := false
	for more := true; more; {
		w.metrics.discovery.events.Add(1)
		switch {
		case m.Type == events.NetworkEventType:
			ls.nets.stale = true
		case m.Actor.ID == "":
			full = true
		default:
			named[m.Actor.ID] = true
		}
		select {
		case m = <-ls.stream.msgs():
		default:
			more = false
		}
	}
	ls.stream.received(w.log())
	switch {
	case full || !ls.synced || ls.failures > 0 || len(named) > maxFilterIDs:
		w.resync(ctx, ls)
	case len(named) > 0:
		ids := slices.Sorted(maps.Keys(named))
		w.relistServices(ctx, ls, ids)
	default:
		w.relistNetworks(ctx, ls)
	}
}

// resync lists all opted-in services and their tasks, and the networks
// when they are due, builds a new table and swaps it in.
func (w *watcher) resync(ctx context.Context, ls *loopState) {
	w.refresh(ctx, ls, true, func(ctx context.Context) (swarmState, error) {
		st, err := w.lister.listAll(ctx, &ls.nets, w.networksDue(ls))
		st.LocalAddrs = w.localAddrs()
		return st, err
	})
}

// networksDue reports whether a full listing must list the networks even
// if no service is on a network it does not know: at the periodic resync,
// and whenever no event stream would announce a network change.
func (w *watcher) networksDue(ls *loopState) bool {
	return w.now().Sub(ls.nets.listedAt) >= time.Duration(w.opts.ResyncInterval) || ls.stream.sub.msgs == nil
}

// relistServices re-lists the given services (converging, or named by
// events) and their tasks, and only theirs, into the last listing; a
// service not listed any more is gone.
func (w *watcher) relistServices(ctx context.Context, ls *loopState, ids []string) {
	w.refresh(ctx, ls, false, func(ctx context.Context) (swarmState, error) {
		part, err := w.lister.listServices(ctx, ids, &ls.nets, false)
		if err != nil {
			return swarmState{}, err
		}
		st := ls.last.withServices(ids, part.Services, part.Tasks)
		st.Networks = part.Networks
		return st, nil
	})
}

// relistNetworks lists the networks, which a network event may have
// changed, and rebuilds the table from the last listing with them.
func (w *watcher) relistNetworks(ctx context.Context, ls *loopState) {
	w.refresh(ctx, ls, false, func(ctx context.Context) (st swarmState, err error) {
		st = ls.last
		st.Networks, err = w.lister.networks(ctx, &ls.nets, st.Services, true)
		st.LocalAddrs = w.localAddrs() // the gateway's own networks may have changed too
		return st, err
	})
}

// convergingIDs returns the IDs of the converging services, sorted.
func convergingIDs(r buildReport) []string {
	var ids []string
	for _, s := range r.services {
		if s.Converging {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// now is the watcher's clock.
func (w *watcher) now() time.Time { return w.lister.now() }

// relistKicked re-lists the tasks of the services that failing requests
// asked about, and only theirs.
func (w *watcher) relistKicked(ctx context.Context, ls *loopState) {
	ids := w.kicks.take()
	switch {
	case len(ids) == 0:
	case !ls.synced:
		w.resync(ctx, ls)
	default:
		w.refresh(ctx, ls, false, func(ctx context.Context) (swarmState, error) {
			tasks, err := w.lister.listTasks(ctx, ids...)
			return ls.last.withTasksOf(ids, tasks), err
		})
	}
}

// refresh runs one listing (full, or of some services' tasks) and
// publishes its table. A panic, from an engine answer the code did not
// expect, fails this listing only: it is logged with its stack and retried
// with backoff, so one odd answer cannot stop the watcher.
func (w *watcher) refresh(ctx context.Context, ls *loopState, full bool, list func(context.Context) (swarmState, error)) {
	defer func() {
		if p := recover(); p != nil {
			w.log().Error("listing the swarm panicked; retrying", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			w.failed(ctx, ls, fmt.Errorf("listing panicked: %v", p))
		}
	}()
	start := w.now()
	st, err := list(ctx)
	if full {
		w.metrics.discovery.resynced(err == nil, w.now().Sub(start))
	}
	if err != nil {
		w.failed(ctx, ls, err)
		return
	}
	if full {
		ls.stream.checkDeaf(st.Services, w.log())
		ls.lastFull = w.now()
	}
	w.publish(ls, st)
	if full && !ls.synced {
		ls.synced = true
		close(w.synced)
	}
}

// publish builds the table from st, swaps it in and logs what changed.
// The gateway's own addresses are read again by full listings and network
// re-lists; the re-lists of some services keep those of the last listing.
func (w *watcher) publish(ls *loopState, st swarmState) {
	next, rep := buildTable(st, buildOptions{LabelPrefix: w.opts.LabelPrefix, Network: w.opts.Network, LB: w.opts.LB})
	now := w.now()
	w.metrics.attach(next, now)
	w.report.Store(&rep)
	prev := w.current.Swap(next)
	w.services.Store(&rep.services)
	w.metrics.published(now, logChanges(w.log(), prev, next, ls.report, rep))
	ls.last, ls.report = st, rep
	ls.failures = 0
	if ls.down {
		ls.down = false
		w.log().Info("docker api reachable again", zap.String("docker_host", w.lister.api.DaemonHost()))
	}
}

// failed records a failed listing: logged once at warn level until the API
// answers again, retried with backoff.
func (w *watcher) failed(ctx context.Context, ls *loopState, err error) {
	if ctx.Err() != nil {
		return
	}
	ls.failures++
	w.metrics.discovery.up.Store(false)
	ls.nets.stale = true // list them again once the API answers
	if ls.down {
		w.log().Debug("docker api still unreachable", zap.Error(err))
		return
	}
	ls.down = true
	w.log().Warn("docker api unreachable; serving the last known routes and retrying",
		zap.String("docker_host", w.lister.api.DaemonHost()), zap.Error(err))
}

// nextDelay is how long to wait before the next listing: backoff after a
// failure, converge_interval while a service converges (slowing down after
// stuckAfter), otherwise until the periodic full listing is due (however
// many events came since the last one: they re-list only what they name);
// and no longer than the event stream's own retry while it is down.
func (w *watcher) nextDelay(ls *loopState) time.Duration {
	idle := time.Duration(w.opts.ResyncInterval)
	d := max(0, idle-w.now().Sub(ls.lastFull))
	switch {
	case ls.failures > 0:
		d = backoff(ls.failures)
	case ls.report.converging():
		if ls.convergingSince.IsZero() {
			ls.convergingSince = w.now()
		}
		c := time.Duration(w.opts.ConvergeInterval)
		if w.now().Sub(ls.convergingSince) > stuckAfter {
			c = max(c, stuckInterval)
		}
		d = min(d, c)
	default:
		ls.convergingSince = time.Time{}
	}
	if !w.opts.PollOnly && ls.stream.failures > 0 {
		d = min(d, backoff(ls.stream.failures))
	}
	return min(d, idle)
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// backoff doubles from minBackoff up to maxBackoff.
func backoff(attempt int) time.Duration {
	d := minBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// interfaceAddrs lists the addresses of this host's (or container's)
// interfaces, to tell which swarm networks the gateway is attached to.
func interfaceAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(ifAddrs))
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
