package discovery

// This file holds the watcher, which owns what discovery publishes, and
// the feed through which its source publishes.

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// Options are a watcher's clock and logger.
type Options struct {
	// Now is the clock of the watcher and its source. Default: time.Now
	Now func() time.Time
	// Log returns the logger to use now: a watcher outlives the config
	// that started it, so it logs through the process's current logger.
	// Default: a no-op logger
	Log func() *zap.Logger
}

// Watcher keeps a route table current from one source, and owns what it
// publishes: one snapshot per publish (table and report together), one
// readiness signal, discovery's counters and the Docker API's state.
// Requests only read the snapshot through an atomic pointer: no request
// ever waits on Docker.
type Watcher struct {
	source Source
	now    func() time.Time
	log    func() *zap.Logger

	snap  atomic.Pointer[Snapshot]
	ready chan struct{} // closed by the first full listing's publish
	stats *Stats
	kicks kickSet
	// meters are the counters of the tables published; only the source's
	// goroutine, through the feed, touches them.
	meters routing.Meters

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a watcher of src. Start runs it.
func New(src Source, opts Options) *Watcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		nop := zap.NewNop()
		opts.Log = func() *zap.Logger { return nop }
	}
	w := &Watcher{
		source: src,
		now:    opts.Now,
		log:    opts.Log,
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		stats:  newStats(),
		kicks:  newKickSet(),
	}
	w.snap.Store(emptySnapshot)
	return w
}

// Start runs the source in a goroutine that Destruct stops.
func (w *Watcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		w.source.Run(ctx, &Feed{w: w})
	}()
}

// Destruct stops the source, waits for it to return and closes it. It
// implements caddy.Destructor: a watcher shared by modules is destructed
// when the last of them is cleaned up.
func (w *Watcher) Destruct() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	} else {
		close(w.done) // never started
	}
	return w.source.Close()
}

// Done returns a channel closed once the watcher has stopped.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Snapshot returns what was published last. It never blocks.
func (w *Watcher) Snapshot() *Snapshot { return w.snap.Load() }

// Table returns the current route table. It never blocks.
func (w *Watcher) Table() *routing.Table { return w.snap.Load().Table }

// Ready returns a channel closed once the first full listing has been
// published: until then the table is empty because nothing is known yet,
// not because nothing claims anything.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Synced reports whether the first full listing has been published.
func (w *Watcher) Synced() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// Stats returns the counters of the watcher's discovery.
func (w *Watcher) Stats() *Stats { return w.stats }

// Engine names the engine the watcher's source reads.
func (w *Watcher) Engine() string { return w.source.Engine() }

// Feed is what a source publishes through, and reads its watcher's
// shared state with. Only the source's Run goroutine uses it.
type Feed struct{ w *Watcher }

// NewFeed returns the feed of w, for a test that drives a source's steps
// itself instead of running it.
func NewFeed(w *Watcher) *Feed { return &Feed{w: w} }

// Now is the watcher's clock.
func (f *Feed) Now() time.Time { return f.w.now() }

// Log returns the logger to use now.
func (f *Feed) Log() *zap.Logger { return f.w.log() }

// Stats returns the counters the source adds to.
func (f *Feed) Stats() *Stats { return f.w.stats }

// Last returns what was published last.
func (f *Feed) Last() *Snapshot { return f.w.Snapshot() }

// Synced reports whether a full listing has been published.
func (f *Feed) Synced() bool { return f.w.Synced() }

// Kicked is signalled when requests asked for re-lists (see TakeKicks).
func (f *Feed) Kicked() <-chan struct{} { return f.w.kicks.wake }

// TakeKicks returns the IDs of the services whose replicas requests asked
// to re-list, and clears them.
func (f *Feed) TakeKicks() []string { return f.w.kicks.take(f.w.now()) }

// Publish swaps in a table and its report, built from a listing that
// covered the whole engine (full) or some of it: it attaches the meters
// (observing the join latency of the replicas new to the routes), logs
// what changed, and, on the first full listing, makes the watcher ready.
func (f *Feed) Publish(t *routing.Table, rep Report, full bool) {
	w := f.w
	now := w.now()
	w.meters.Attach(t, func(r routing.Replica) {
		if !r.Running.IsZero() {
			w.stats.joins.Observe(max(0, now.Sub(r.Running)))
		}
	})
	next := &Snapshot{Table: t, Report: rep}
	prev := w.snap.Swap(next)
	changed := logChanges(w.log(), prev, next)
	if w.stats.published(now, changed) {
		w.log().Info("docker api reachable again", zap.String("docker_host", w.Engine()))
	}
	if full && !w.Synced() {
		close(w.ready)
	}
}

// Failed records a failed listing: logged once at warn level until the
// API answers again.
func (f *Feed) Failed(err error) {
	w := f.w
	if w.stats.failed() {
		w.log().Debug("docker api still unreachable", zap.Error(err))
		return
	}
	w.log().Warn("docker api unreachable; serving the last known routes and retrying",
		zap.String("docker_host", w.Engine()), zap.Error(err))
}
