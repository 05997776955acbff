package routing

// This file holds the histogram that requests and discovery observe into:
// atomics only, exported to Prometheus at scrape time.

import (
	"sort"
	"sync/atomic"
	"time"
)

// Histogram is a Prometheus histogram of durations that only adds to
// atomics: the collector exports it at scrape time.
type Histogram struct {
	bounds []float64       // upper bounds, in seconds, ascending
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64    // nanoseconds
}

// NewHistogram returns a histogram with the given upper bounds, in
// seconds, ascending.
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	h.counts[sort.SearchFloat64s(h.bounds, d.Seconds())].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the count, the sum in seconds and the cumulative
// bucket counts, as prometheus.NewConstHistogram takes them.
func (h *Histogram) Snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(h.bounds))
	for i, b := range h.bounds {
		count += h.counts[i].Load()
		buckets[b] = count
	}
	count += h.counts[len(h.bounds)].Load()
	return count, time.Duration(h.sum.Load()).Seconds(), buckets
}
