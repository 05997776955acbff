package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"go.uber.org/zap"
)

// Backoff bounds for retrying the Docker API and the event stream.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = time.Second
	// listTimeout bounds one resync, so a hung engine cannot stall the loop.
	listTimeout = 10 * time.Second
	// A service that keeps converging for longer than stuckAfter (a task
	// failing its health check forever, say) is re-listed every
	// stuckInterval instead of every converge_interval.
	stuckAfter    = time.Minute
	stuckInterval = 2 * time.Second
	// eventsWarnAfter is how many event stream failures in a row are
	// worth a warning.
	eventsWarnAfter = 3
)

// watcher keeps a route table in step with the swarm. It is driven by the
// Docker event stream (service events), re-lists every converge_interval
// while a service converges, and resyncs every resync_interval as a safety
// net. Each resync costs three API calls (services, tasks, networks),
// however many services and tasks there are. Requests only read the table
// through an atomic pointer: no request ever waits on Docker.
type watcher struct {
	api    dockerAPI
	opts   Discovery
	logger *zap.Logger

	current  atomic.Pointer[routeTable]
	kickCh   chan struct{}
	lastKick atomic.Int64 // unix nanoseconds
	cancel   context.CancelFunc
	done     chan struct{}

	// localAddrs returns the gateway's own addresses; replaced in tests.
	localAddrs func() []netip.Addr

	// Owned by the run goroutine.
	down bool // last resync failed; logged once until it recovers
}

// startWatcher starts a watcher's loop. Destruct stops it.
func startWatcher(api dockerAPI, d Discovery, logger *zap.Logger) *watcher {
	w := newWatcher(api, d, logger)
	w.start()
	return w
}

// start runs the loop in a goroutine that Destruct stops.
func (w *watcher) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx)
}

func newWatcher(api dockerAPI, d Discovery, logger *zap.Logger) *watcher {
	w := &watcher{
		api:        api,
		opts:       d,
		logger:     logger,
		kickCh:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		localAddrs: interfaceAddrs,
	}
	w.current.Store(emptyTable)
	return w
}

// table returns the current route table. It never blocks.
func (w *watcher) table() *routeTable { return w.current.Load() }

// kick asks for a resync as soon as possible, without waiting for it.
// Kicks closer together than converge_interval make one resync, so a burst
// of failing requests cannot flood the Docker API.
func (w *watcher) kick() {
	now := time.Now().UnixNano()
	last := w.lastKick.Load()
	if now-last < int64(w.opts.ConvergeInterval) || !w.lastKick.CompareAndSwap(last, now) {
		return
	}
	select {
	case w.kickCh <- struct{}{}:
	default:
	}
}

// Destruct stops the loop, waits for it to exit and closes the client.
// It implements caddy.Destructor, called when the last module using this
// watcher is cleaned up.
func (w *watcher) Destruct() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	return w.api.Close()
}

func (w *watcher) run(ctx context.Context) {
	var wg sync.WaitGroup // the subscriber goroutines
	defer close(w.done)
	defer wg.Wait()
	defer func() {
		if err := recover(); err != nil {
			w.logger.Error("swarm watcher panicked; routes are frozen at their last state",
				zap.Any("error", err), zap.ByteString("stack", debug.Stack()))
		}
	}()

	var (
		sub          subscription // the open event stream, if any
		subscribing  bool
		subs         = make(chan subscription, 1)
		eventRetries int
		failures     int
		convSince    time.Time // when the current convergence began
	)
	defer func() { sub.stop() }()
	// subscribe opens the event stream without blocking the loop: opening
	// waits for the engine's response headers, which a hung engine or an
	// unreachable address never sends.
	subscribe := func() {
		subscribing = true
		evCtx, cancel := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs, errs := w.api.Events(evCtx, events.ListOptions{Filters: filters.NewArgs(
				filters.Arg("type", string(events.ServiceEventType)),
			)})
			subs <- subscription{msgs: msgs, errs: errs, cancel: cancel}
		}()
	}

	timer := time.NewTimer(0) // first resync right away
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.kickCh:
		case sub = <-subs:
			// Open: list again, to cover changes made while it opened.
			subscribing = false
		case <-sub.msgs:
			if eventRetries >= eventsWarnAfter {
				w.logger.Info("docker event stream back")
			}
			eventRetries = 0
			drainEvents(sub.msgs) // one resync covers a burst
		case err := <-sub.errs:
			sub.stop()
			sub = subscription{}
			eventRetries++
			w.eventsLost(err, eventRetries)
			resetTimer(timer, backoff(eventRetries))
			continue
		}

		if !w.opts.PollOnly && sub.msgs == nil && !subscribing {
			subscribe()
		}

		next := time.Duration(w.opts.ResyncInterval)
		converging, err := w.resync(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			w.markDown(err)
			next = backoff(failures)
		default:
			failures = 0
			w.markUp()
			next = w.convergeDelay(converging, &convSince, next)
		}
		if sub.msgs == nil && !w.opts.PollOnly && eventRetries > 0 {
			next = min(next, backoff(eventRetries))
		}
		resetTimer(timer, next)
	}
}

// subscription is an open Docker event stream.
type subscription struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
}

func (s subscription) stop() {
	if s.cancel != nil {
		s.cancel()
	}
}

// convergeDelay returns how soon to re-list: converge_interval while a
// service converges, slowing to stuckInterval when it has converged for
// longer than stuckAfter, and idle otherwise. since tracks the start.
func (w *watcher) convergeDelay(converging bool, since *time.Time, idle time.Duration) time.Duration {
	if !converging {
		*since = time.Time{}
		return idle
	}
	if since.IsZero() {
		*since = time.Now()
	}
	d := time.Duration(w.opts.ConvergeInterval)
	if time.Since(*since) > stuckAfter {
		d = max(d, stuckInterval)
	}
	return min(d, idle)
}

// resync lists services, tasks and networks, builds a new table and swaps
// it in, logging what changed. It reports whether any service converges.
func (w *watcher) resync(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()

	prefix := w.opts.LabelPrefix
	services, err := w.api.ServiceList(ctx, swarm.ServiceListOptions{
		Filters: filters.NewArgs(filters.Arg("label", prefix+"."+labelEnable)),
		Status:  true,
	})
	if err != nil {
		return false, fmt.Errorf("listing services: %w", err)
	}
	var tasks []swarm.Task
	var nets []network.Summary
	if len(services) > 0 {
		tasks, err = w.api.TaskList(ctx, swarm.TaskListOptions{
			Filters: filters.NewArgs(filters.Arg("desired-state", string(swarm.TaskStateRunning))),
		})
		if err != nil {
			return false, fmt.Errorf("listing tasks: %w", err)
		}
		nets, err = w.api.NetworkList(ctx, network.ListOptions{
			Filters: filters.NewArgs(filters.Arg("driver", "overlay")),
		})
		if err != nil {
			return false, fmt.Errorf("listing networks: %w", err)
		}
	}
	next := buildTable(swarmState{
		Services:   services,
		Tasks:      tasks,
		Networks:   nets,
		LocalAddrs: w.localAddrs(),
	}, tableOptions{LabelPrefix: prefix, Network: w.opts.Network, LB: w.opts.LB})
	prev := w.current.Swap(next)
	logChanges(w.logger, prev, next)
	return len(next.converging) > 0, nil
}

func (w *watcher) markDown(err error) {
	if w.down {
		w.logger.Debug("docker api still unreachable", zap.Error(err))
		return
	}
	w.down = true
	w.logger.Warn("docker api unreachable; serving the last known routes and retrying",
		zap.String("docker_host", w.api.DaemonHost()), zap.Error(err))
}

func (w *watcher) markUp() {
	if w.down {
		w.down = false
		w.logger.Info("docker api reachable again", zap.String("docker_host", w.api.DaemonHost()))
	}
}

// eventsLost logs an event stream that ended: at debug level, and once at
// warn level when it keeps failing while the API itself answers (a proxy
// that blocks /events, say), since the gateway then falls back to polling.
func (w *watcher) eventsLost(err error, retries int) {
	if errors.Is(err, context.Canceled) {
		return
	}
	w.logger.Debug("docker event stream ended; reconnecting", zap.Error(err))
	if retries == eventsWarnAfter && !w.down {
		w.logger.Warn("docker event stream unavailable; re-listing every second until it is back (set poll_only to poll at resync_interval instead)",
			zap.Error(err))
	}
}

// logChanges logs, once each, the routes that appeared, disappeared or
// changed replica count, and the problems that are new.
func logChanges(l *zap.Logger, prev, next *routeTable) {
	for p, r := range next.byPrefix {
		old, ok := prev.byPrefix[p]
		switch {
		case !ok:
			l.Info("route added", zap.String("prefix", p), zap.String("service", r.Service), zap.Int("replicas", len(r.Upstreams)))
		case old.Service != r.Service:
			l.Info("route changed service", zap.String("prefix", p), zap.String("from", old.Service), zap.String("service", r.Service), zap.Int("replicas", len(r.Upstreams)))
		case len(old.Upstreams) != len(r.Upstreams):
			l.Info("replicas changed", zap.String("prefix", p), zap.String("service", r.Service), zap.Int("from", len(old.Upstreams)), zap.Int("replicas", len(r.Upstreams)))
		case !slices.Equal(old.Upstreams, r.Upstreams):
			l.Debug("replicas replaced", zap.String("prefix", p), zap.String("service", r.Service), zap.Strings("upstreams", r.Upstreams))
		}
	}
	for p, r := range prev.byPrefix {
		if _, ok := next.byPrefix[p]; !ok {
			l.Info("route removed", zap.String("prefix", p), zap.String("service", r.Service))
		}
	}
	for svc, msg := range next.problems {
		if prev.problems[svc] != msg {
			l.Warn(msg, zap.String("service", svc))
		}
	}
}

func drainEvents(c <-chan events.Message) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
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
