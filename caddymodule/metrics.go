package caddymodule

// This file counts what the gateway does, for the metrics (collector.go),
// the routes API (admin.go) and the status page (status.go): requests per
// route and per replica, on counters resolved when a table is built so
// that a request only adds to atomics, and the watcher's discovery.

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram buckets, in seconds.
var (
	durationBuckets = prometheus.DefBuckets
	joinBuckets     = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// statusClasses are the labels of the status classes 1xx to 5xx.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// routeKey names what the per-route metrics count: a service's route (""
// for its service-level route), on all the hosts it claims.
type routeKey struct{ Service, Route string }

// routeStats are a route's request counts, kept across tables for as long
// as the route is routed.
type routeStats struct {
	status   [len(statusClasses)]atomic.Uint64
	duration *histogram
}

// replicaKey names a replica of a route: a task (or a virtual IP) at an
// address.
type replicaKey struct{ Service, Route, TaskID, Addr string }

// replicaStats counts the requests a replica of a route served.
type replicaStats struct{ served atomic.Uint64 }

// routeMeter is what a request on a route counts with: resolved when the
// table is built, read-only afterwards.
type routeMeter struct {
	stats    *routeStats
	replicas map[string]*replicaStats // by dial address
}

// observe counts a request on the route that ended with status after d.
func (m *routeMeter) observe(status int, d time.Duration) {
	i := status/100 - 1
	if i < 0 || i >= len(statusClasses) {
		i = len(statusClasses) - 1 // no valid status: counted as a server error
	}
	m.stats.status[i].Add(1)
	m.stats.duration.observe(d)
}

// served counts a request served by the replica at addr, and reports
// whether the route has that replica.
func (m *routeMeter) served(addr string) bool {
	st := m.replicas[addr]
	if st == nil {
		return false
	}
	st.served.Add(1)
	return true
}

// discoveryStats count the watcher's work. The loop writes them, scrapes
// and the routes API read them.
type discoveryStats struct {
	resyncsOK, resyncsFailed atomic.Uint64
	resyncDuration           *histogram
	events                   atomic.Uint64
	joins                    *histogram // task running → first routed
	// lastSync and lastChange are Unix nanoseconds: of the last listing
	// published, and of the last one that changed the routes (0: none).
	lastSync, lastChange atomic.Int64
	up                   atomic.Bool // the last call to the Docker API succeeded

	mu        sync.Mutex
	apiErrors map[string]uint64 // by endpoint
	lastError string
}

// apiError counts a failed call to a Docker API endpoint.
func (d *discoveryStats) apiError(endpoint string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.apiErrors == nil {
		d.apiErrors = make(map[string]uint64)
	}
	d.apiErrors[endpoint]++
	d.lastError = err.Error()
}

// resynced counts a full listing that took d.
func (d *discoveryStats) resynced(ok bool, took time.Duration) {
	if ok {
		d.resyncsOK.Add(1)
	} else {
		d.resyncsFailed.Add(1)
	}
	d.resyncDuration.observe(took)
}

// errorCounts returns the error counts by endpoint and the last error.
func (d *discoveryStats) errorCounts() (map[string]uint64, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.apiErrors))
	for k, v := range d.apiErrors {
		out[k] = v
	}
	return out, d.lastError
}

// watcherMetrics holds the counters of a watcher. routes, replicas and
// tasks are the loop's own: attach replaces them with what the new table
// routes, so what leaves the table leaves the metrics.
type watcherMetrics struct {
	discovery discoveryStats

	routes   map[routeKey]*routeStats
	replicas map[replicaKey]*replicaStats
	tasks    map[string]bool // IDs of the tasks routed
	attached bool            // a table has been attached: later tasks join
}

func newWatcherMetrics() *watcherMetrics {
	m := new(watcherMetrics)
	m.discovery.resyncDuration = newHistogram(durationBuckets)
	m.discovery.joins = newHistogram(joinBuckets)
	return m
}

// attach gives every route of t, a table about to be published, its
// meter: the counters of its route and replicas, kept from the last table
// where it had them. Counters of what t no longer routes are dropped. A
// task routed for the first time after the first table has its join
// latency (from running to routed, at now) observed.
func (m *watcherMetrics) attach(t *routeTable, now time.Time) {
	routes := make(map[routeKey]*routeStats, len(m.routes))
	replicas := make(map[replicaKey]*replicaStats, len(m.replicas))
	tasks := make(map[string]bool, len(m.tasks))
	t.each(func(r *route) {
		k := routeKey{r.Service, r.Name}
		rs := routes[k]
		if rs == nil {
			if rs = m.routes[k]; rs == nil {
				rs = &routeStats{duration: newHistogram(durationBuckets)}
			}
			routes[k] = rs
		}
		meter := &routeMeter{stats: rs, replicas: make(map[string]*replicaStats, len(r.Replicas))}
		for _, rep := range r.Replicas {
			rk := replicaKey{r.Service, r.Name, rep.TaskID, rep.Addr}
			st := replicas[rk]
			if st == nil {
				if st = m.replicas[rk]; st == nil {
					st = new(replicaStats)
				}
				replicas[rk] = st
			}
			meter.replicas[rep.Addr] = st
			if rep.TaskID == "" || tasks[rep.TaskID] {
				continue
			}
			tasks[rep.TaskID] = true
			if m.attached && !m.tasks[rep.TaskID] && !rep.Running.IsZero() {
				m.discovery.joins.observe(max(0, now.Sub(rep.Running)))
			}
		}
		r.meter = meter
	})
	m.routes, m.replicas, m.tasks = routes, replicas, tasks
	m.attached = true
}

// published records a listing published at now, and whether it changed
// the routes.
func (m *watcherMetrics) published(now time.Time, changed bool) {
	m.discovery.lastSync.Store(now.UnixNano())
	if changed {
		m.discovery.lastChange.Store(now.UnixNano())
	}
	m.discovery.up.Store(true)
}

// histogram is a Prometheus histogram of durations that only adds to
// atomics: it is exported at scrape time by the collector.
type histogram struct {
	bounds []float64       // upper bounds, in seconds, ascending
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64    // nanoseconds
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe adds one duration.
func (h *histogram) observe(d time.Duration) {
	h.counts[sort.SearchFloat64s(h.bounds, d.Seconds())].Add(1)
	h.sum.Add(int64(d))
}

// snapshot returns the count, the sum in seconds and the cumulative
// bucket counts, as prometheus.NewConstHistogram takes them.
func (h *histogram) snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(h.bounds))
	for i, b := range h.bounds {
		count += h.counts[i].Load()
		buckets[b] = count
	}
	count += h.counts[len(h.bounds)].Load()
	return count, time.Duration(h.sum.Load()).Seconds(), buckets
}
