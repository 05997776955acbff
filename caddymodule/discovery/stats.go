package discovery

// This file holds the counters of a watcher's discovery and the state of
// its Docker API: written by the source and the watcher, read by scrapes,
// the routes API and the status page.

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// JoinBuckets are the bounds, in seconds, of the join latency histogram.
var JoinBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// The states of the Docker API, as the last call found it.
const (
	apiUnknown int32 = iota // not called yet
	apiUp                   // the last call succeeded
	apiDown                 // the last listing failed
)

// Stats count a watcher's discovery.
type Stats struct {
	resyncsOK, resyncsFailed atomic.Uint64
	resyncDuration           *routing.Histogram
	events                   atomic.Uint64
	joins                    *routing.Histogram // replica running → first routed
	// lastSync and lastChange are Unix nanoseconds: of the last listing
	// published, and of the last one that changed the routes (0: none).
	lastSync, lastChange atomic.Int64
	api                  atomic.Int32 // apiUnknown, apiUp or apiDown

	mu        sync.Mutex
	apiErrors map[string]uint64 // by endpoint
	lastError string
}

func newStats() *Stats {
	return &Stats{resyncDuration: routing.NewHistogram(routing.DurationBuckets), joins: routing.NewHistogram(JoinBuckets)}
}

// APIError counts a failed call to a Docker API endpoint.
func (s *Stats) APIError(endpoint string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apiErrors == nil {
		s.apiErrors = make(map[string]uint64)
	}
	s.apiErrors[endpoint]++
	s.lastError = err.Error()
}

// Resynced counts a full listing that took took.
func (s *Stats) Resynced(ok bool, took time.Duration) {
	if ok {
		s.resyncsOK.Add(1)
	} else {
		s.resyncsFailed.Add(1)
	}
	s.resyncDuration.Observe(took)
}

// Event counts a Docker event received.
func (s *Stats) Event() { s.events.Add(1) }

// ErrorCounts returns a copy of the error counts by endpoint (never nil)
// and the last error.
func (s *Stats) ErrorCounts() (map[string]uint64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.apiErrors))
	maps.Copy(out, s.apiErrors)
	return out, s.lastError
}

// Resyncs returns the full listings that succeeded and failed.
func (s *Stats) Resyncs() (ok, failed uint64) { return s.resyncsOK.Load(), s.resyncsFailed.Load() }

// ResyncDurations is the histogram of the full listings' durations.
func (s *Stats) ResyncDurations() *routing.Histogram { return s.resyncDuration }

// Joins is the histogram of the time from a replica running to its being
// routed.
func (s *Stats) Joins() *routing.Histogram { return s.joins }

// Events returns the Docker events received.
func (s *Stats) Events() uint64 { return s.events.Load() }

// APIUp reports whether the last call to the Docker API succeeded.
func (s *Stats) APIUp() bool { return s.api.Load() == apiUp }

// APIDown reports whether the last listing failed.
func (s *Stats) APIDown() bool { return s.api.Load() == apiDown }

// LastSync is when the last listing was published (zero: never).
func (s *Stats) LastSync() time.Time { return unixTime(s.lastSync.Load()) }

// LastChange is when the last listing that changed the routes was
// published (zero: never).
func (s *Stats) LastChange() time.Time { return unixTime(s.lastChange.Load()) }

// published records a listing published at now, and whether it changed
// the routes, and reports whether the API was down until then.
func (s *Stats) published(now time.Time, changed bool) (wasDown bool) {
	s.lastSync.Store(now.UnixNano())
	if changed {
		s.lastChange.Store(now.UnixNano())
	}
	return s.api.Swap(apiUp) == apiDown
}

// failed records a failed listing, and reports whether the API was down
// already.
func (s *Stats) failed() (wasDown bool) { return s.api.Swap(apiDown) == apiDown }

// unixTime is the time of Unix nanoseconds, zero for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
