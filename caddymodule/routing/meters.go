package routing

// This file holds the per-route and per-replica counters a request adds
// to. They are resolved when a table is built, so that a request only
// adds to atomics, and kept across tables for as long as what they count
// is routed.

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the bounds, in seconds, of request durations.
var DurationBuckets = prometheus.DefBuckets

// StatusClasses are the labels of the status classes 1xx to 5xx.
var StatusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// sideKey names what the per-route counters count: a service's route (""
// for its service-level route), on all the hosts it claims, of its engine.
type sideKey struct{ Engine, Service, Route string }

// sideStats are a side's request counts.
type sideStats struct {
	status   [len(StatusClasses)]atomic.Uint64
	duration *Histogram
	turns    atomic.Uint64 // replicas chosen by round robin (Meter.Turn)
}

// replicaKey names a replica of a side: a task (or a virtual IP) at an
// address.
type replicaKey struct{ Engine, Service, Route, TaskID, Addr string }

// replicaStats counts the requests a replica of a side served.
type replicaStats struct{ served atomic.Uint64 }

// Meter is what a request on a side counts with: resolved when the table
// is built, read-only afterwards.
type Meter struct {
	stats    *sideStats
	replicas map[string]*replicaStats // by dial address
}

// Observe counts a request on the side that ended with status after d.
func (m *Meter) Observe(status int, d time.Duration) {
	i := status/100 - 1
	if i < 0 || i >= len(StatusClasses) {
		i = len(StatusClasses) - 1 // no valid status: counted as a server error
	}
	m.stats.status[i].Add(1)
	m.stats.duration.Observe(d)
}

// Served counts a request served by the replica at addr, and reports
// whether the side has that replica.
func (m *Meter) Served(addr string) bool {
	st := m.replicas[addr]
	if st == nil {
		return false
	}
	st.served.Add(1)
	return true
}

// Turn counts one choice of a replica of the side by round robin (every
// try of a request), and returns how many came before it: the side's own
// counter, which no other side's requests advance, kept across tables as
// the side's other counts are. It wraps at 2^64.
func (m *Meter) Turn() uint64 { return m.stats.turns.Add(1) - 1 }

// Requests returns the requests counted in status class i (an index of
// StatusClasses).
func (m *Meter) Requests(i int) uint64 { return m.stats.status[i].Load() }

// Durations returns the histogram of the side's request durations.
func (m *Meter) Durations() *Histogram { return m.stats.duration }

// ServedBy returns the requests the replica at addr served, 0 for one the
// side does not have.
func (m *Meter) ServedBy(addr string) uint64 {
	if st := m.replicas[addr]; st != nil {
		return st.served.Load()
	}
	return 0
}

// Meters keeps the counters of the tables a watcher publishes. Only the
// goroutine that publishes calls Attach.
type Meters struct {
	sides    map[sideKey]*sideStats
	replicas map[replicaKey]*replicaStats
	tasks    map[string]bool // IDs of the tasks routed
	attached bool            // a table has been attached: later tasks join
}

// Attach gives every side of t, a table about to be published, its
// meter: the counters of its route and replicas, kept from the last table
// where it had them. Counters of what t no longer routes are dropped. For
// a task routed for the first time after the first table, joined is
// called with its replica.
func (m *Meters) Attach(t *Table, joined func(Replica)) {
	sides := make(map[sideKey]*sideStats, len(m.sides))
	replicas := make(map[replicaKey]*replicaStats, len(m.replicas))
	tasks := make(map[string]bool, len(m.tasks))
	t.EachSide(func(_ *Route, s *Side) {
		k := sideKey{s.Engine, s.Service, s.Name}
		ss := sides[k]
		if ss == nil {
			if ss = m.sides[k]; ss == nil {
				ss = &sideStats{duration: NewHistogram(DurationBuckets)}
			}
			sides[k] = ss
		}
		meter := &Meter{stats: ss, replicas: make(map[string]*replicaStats, len(s.Replicas))}
		for _, rep := range s.Replicas {
			rk := replicaKey{s.Engine, s.Service, s.Name, rep.TaskID, rep.Addr}
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
			if m.attached && !m.tasks[rep.TaskID] {
				joined(rep)
			}
		}
		s.Meter = meter
	})
	m.sides, m.replicas, m.tasks = sides, replicas, tasks
	m.attached = true
}
