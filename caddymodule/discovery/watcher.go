package discovery

// This file holds the watcher, which owns what discovery publishes, and
// the feeds through which its sources publish.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// Options are a watcher's clock and logger.
type Options struct {
	// Now is the clock of the watcher and its sources. Default: time.Now
	Now func() time.Time
	// Log returns the logger to use now: a watcher outlives the config
	// that started it, so it logs through the process's current logger.
	// Default: a no-op logger
	Log func() *zap.Logger
}

// Watcher keeps a route table current from its sources (the swarm's and
// the containers' of one engine, or of several engines), and owns what it
// publishes: one snapshot per publish (table and report together, the
// sources' merged), one readiness signal, and each engine's discovery
// counters and Docker API state. Requests only read the snapshot through
// an atomic pointer: no request ever waits on Docker. Each source runs on
// its own: an engine that does not answer holds no lock and delays no
// other engine's publishes.
type Watcher struct {
	sources []Source
	now     func() time.Time
	log     func() *zap.Logger

	snap    atomic.Pointer[Snapshot]
	ready   chan struct{} // closed once every source has listed once
	engines []engineState
	kicks   []kickSet // by source

	// mu orders the sources' publishes; what follows is the publishing
	// goroutine's, under mu.
	mu    sync.Mutex
	parts []part // by source
	// meters are the counters of the tables published, loads the scaled
	// services' load counters.
	meters routing.Meters
	loads  routing.Loads
	// published is closed at the next publish, and replaced.
	published atomic.Pointer[chan struct{}]

	cancel context.CancelFunc
	done   chan struct{}
}

// part is what one source published last.
type part struct {
	snap   atomic.Pointer[Snapshot] // read by its source without mu
	synced bool                     // it has listed in full, or turned itself off
	engine int                      // the index of the source's engine
}

// engineState is what a watcher keeps of one engine.
type engineState struct {
	name  string
	stats *Stats
	first int // the index of its first source
}

// EngineSources are the sources of one Docker engine, and its name.
type EngineSources struct {
	// Name names the engine in routes, reports and logs; "" for the one
	// engine of a watcher that reads one.
	Name    string
	Sources []Source
}

// New returns a watcher of src. Start runs it.
func New(src Source, opts Options) *Watcher { return NewMany([]Source{src}, opts) }

// NewMany returns a watcher of several sources of one engine whose tables
// it merges (see Feed.Publish). Start runs it.
func NewMany(sources []Source, opts Options) *Watcher {
	return NewEngines([]EngineSources{{Sources: sources}}, opts)
}

// NewEngines returns a watcher of the sources of several engines, each
// with its own counters and API state, whose tables it merges into one
// (see merge). Start runs it.
func NewEngines(engines []EngineSources, opts Options) *Watcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		nop := zap.NewNop()
		opts.Log = func() *zap.Logger { return nop }
	}
	w := &Watcher{
		now:   opts.Now,
		log:   opts.Log,
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	for _, es := range engines {
		w.engines = append(w.engines, engineState{name: es.Name, stats: newStats(), first: len(w.sources)})
		w.sources = append(w.sources, es.Sources...)
		for range es.Sources {
			w.kicks = append(w.kicks, newKickSet())
		}
	}
	w.parts = make([]part, len(w.sources))
	for i := range w.parts {
		w.parts[i].snap.Store(emptySnapshot)
	}
	for e, es := range w.engines {
		for i := es.first; i < es.first+len(engines[e].Sources); i++ {
			w.parts[i].engine = e
		}
	}
	w.snap.Store(emptySnapshot)
	next := make(chan struct{})
	w.published.Store(&next)
	return w
}

// Start runs each source in a goroutine that Destruct stops.
func (w *Watcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	var wg sync.WaitGroup
	for i, src := range w.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.Run(ctx, &Feed{w: w, i: i})
		}()
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
}

// Destruct stops the sources, waits for them to return and closes them.
// It implements caddy.Destructor: a watcher shared by modules is
// destructed when the last of them is cleaned up.
func (w *Watcher) Destruct() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	} else {
		close(w.done) // never started
	}
	var errs []error
	for _, src := range w.sources {
		errs = append(errs, src.Close())
	}
	return errors.Join(errs...)
}

// Done returns a channel closed once the watcher has stopped.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Snapshot returns what was published last. It never blocks.
func (w *Watcher) Snapshot() *Snapshot { return w.snap.Load() }

// Published returns a channel closed at the next publish: how a request
// waits for a change of the table (a replica of a service that wakes).
func (w *Watcher) Published() <-chan struct{} { return *w.published.Load() }

// Table returns the current route table. It never blocks.
func (w *Watcher) Table() *routing.Table { return w.snap.Load().Table }

// Ready returns a channel closed once every source has listed its engine
// in full once (or found it has nothing to list there: the swarm source
// of an engine that is no swarm manager): until then the table is empty,
// or partial, because not everything is known yet, not because nothing
// claims anything.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Synced reports whether every source has listed in full once.
func (w *Watcher) Synced() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// Stats returns the counters of the watcher's first engine (its only
// one, but for a watcher of several engines: see Engines).
func (w *Watcher) Stats() *Stats { return w.engines[0].stats }

// Engine names the Docker API of the watcher's first engine.
func (w *Watcher) Engine() string { return w.sources[w.engines[0].first].Engine() }

// EngineStatus is what a watcher tells of one of its engines.
type EngineStatus struct {
	Name  string // "" for the one engine of a watcher that reads one
	Host  string // its Docker API
	Stats *Stats
	// Synced is true once every source of the engine has listed once.
	Synced bool
}

// ServesPartial reports whether requests may be served from a table that
// not every engine has listed into yet: only with several engines, where
// one down at start must not hold up the others' routes. With one, a
// request waits for its first full listing, so that no route is served
// before an older claim of its own engine has been seen.
func (w *Watcher) ServesPartial() bool { return len(w.engines) > 1 }

// Engines returns the state of each engine, in their order.
func (w *Watcher) Engines() []EngineStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]EngineStatus, len(w.engines))
	for i, e := range w.engines {
		out[i] = EngineStatus{Name: e.name, Host: w.sources[e.first].Engine(), Stats: e.stats, Synced: true}
	}
	for i := range w.parts {
		p := &w.parts[i]
		out[p.engine].Synced = out[p.engine].Synced && p.synced
	}
	return out
}

// engineOf is the engine state of the source of index i.
func (w *Watcher) engineOf(i int) *engineState { return &w.engines[w.parts[i].engine] }

// Feed is what a source publishes through, and reads its watcher's
// shared state with. Only the source's Run goroutine uses it.
type Feed struct {
	w *Watcher
	i int // the source's index
}

// NewFeed returns the feed of w's first source, for a test that drives a
// source's steps itself instead of running it.
func NewFeed(w *Watcher) *Feed { return &Feed{w: w} }

// Now is the watcher's clock.
func (f *Feed) Now() time.Time { return f.w.now() }

// Log returns the logger to use now, naming the source's engine when the
// watcher reads several.
func (f *Feed) Log() *zap.Logger {
	if name := f.w.engineName(f.i); name != "" {
		return f.w.log().With(zap.String("engine", name))
	}
	return f.w.log()
}

// Stats returns the counters the source adds to: its engine's.
func (f *Feed) Stats() *Stats { return f.w.engineOf(f.i).stats }

// Last returns what the source published last.
func (f *Feed) Last() *Snapshot { return f.w.parts[f.i].snap.Load() }

// Synced reports whether the source has published a full listing.
func (f *Feed) Synced() bool {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	return f.w.parts[f.i].synced
}

// Kicked is signalled when requests asked for re-lists (see TakeKicks).
func (f *Feed) Kicked() <-chan struct{} { return f.w.kicks[f.i].wake }

// TakeKicks returns the IDs of the services whose replicas requests asked
// the source to re-list, and clears them.
func (f *Feed) TakeKicks() []string { return f.w.kicks[f.i].take(f.w.now()) }

// Publish swaps in a table and its report, built from a listing that
// covered the whole engine (full) or some of it. With several sources,
// the table published is the merge of each one's last (see merge). It
// attaches the meters (observing the join latency of the replicas new to
// the routes), logs what changed, and, once every source has published a
// full listing, makes the watcher ready.
func (f *Feed) Publish(t *routing.Table, rep Report, full bool) {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	p := &w.parts[f.i]
	p.snap.Store(&Snapshot{Table: t, Report: rep})
	p.synced = p.synced || full
	if len(w.parts) > 1 {
		t, rep = w.merge()
	}
	now := w.now()
	e := w.engineOf(f.i)
	w.meters.Attach(t, func(r routing.Replica) {
		if !r.Running.IsZero() {
			e.stats.joins.Observe(max(0, now.Sub(r.Running)))
		}
	})
	w.loads.Attach(t)
	next := &Snapshot{Table: t, Report: rep}
	prev := w.snap.Swap(next)
	ch := make(chan struct{})
	close(*w.published.Swap(&ch))
	changed := logChanges(w.log(), prev, next)
	if e.stats.published(now, changed) {
		w.log().Info("docker api reachable again", f.engineFields()...)
	}
	if !w.Synced() && w.allSynced() {
		close(w.ready)
	}
}

// allSynced reports whether every source has listed in full. w.mu is held.
func (w *Watcher) allSynced() bool {
	for i := range w.parts {
		if !w.parts[i].synced {
			return false
		}
	}
	return true
}

// Off says that the source has nothing to list on its engine (the swarm
// source of an engine that is no swarm manager): it publishes no route,
// and counts as listed for readiness.
func (f *Feed) Off() { f.Publish(routing.NewTable(), NewReport(), true) }

// Failed records a failed listing: logged once at warn level until the
// API answers again.
func (f *Feed) Failed(err error) {
	w := f.w
	if w.engineOf(f.i).stats.failed() {
		w.log().Debug("docker api still unreachable", append(f.engineFields(), zap.Error(err))...)
		return
	}
	w.log().Warn("docker api unreachable; serving the last known routes and retrying",
		append(f.engineFields(), zap.Error(err))...)
}

// engineFields are the log fields naming the source's engine: its name,
// if it has one, and its Docker API.
func (f *Feed) engineFields() []zap.Field {
	fields := []zap.Field{zap.String("docker_host", f.w.sources[f.i].Engine())}
	if name := f.w.engineOf(f.i).name; name != "" {
		fields = append(fields, zap.String("engine", name))
	}
	return fields
}
