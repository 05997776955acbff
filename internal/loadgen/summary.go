package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Summary condenses a run.
type Summary struct {
	Sent, Failed        int
	Errors              map[string]int // failure reason -> count
	PerReplica          map[string]int // ServiceID -> successful responses
	P50, P99, P999, Max time.Duration
	Elapsed             time.Duration
}

// Summarize counts a run's records.
func Summarize(recs []Record) Summary {
	s := Summary{Sent: len(recs), Errors: map[string]int{}, PerReplica: map[string]int{}}
	lat := make([]time.Duration, 0, len(recs))
	var first, last time.Time
	for _, r := range recs {
		if first.IsZero() || r.Sent.Before(first) {
			first = r.Sent
		}
		if r.Done().After(last) {
			last = r.Done()
		}
		if r.Failed() {
			s.Failed++
			reason := r.Err
			if reason == "" {
				reason = fmt.Sprintf("status %d", r.Code)
			}
			s.Errors[reason]++
			continue
		}
		s.PerReplica[r.ServiceID]++
		lat = append(lat, r.Latency)
	}
	s.Elapsed = last.Sub(first)
	slices.Sort(lat)
	s.P50, s.P99, s.P999 = Percentile(lat, 50), Percentile(lat, 99), Percentile(lat, 99.9)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	return s
}

// Percentile returns the p-th percentile of sorted durations (nearest rank).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Spread returns max/min of the per-replica counts (1 is perfectly even).
func (s Summary) Spread() float64 {
	if len(s.PerReplica) == 0 {
		return 0
	}
	lo, hi := -1, 0
	for _, n := range s.PerReplica {
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return float64(hi) / float64(max(lo, 1))
}

// Print writes the summary for a person.
func (s Summary) Print(w io.Writer) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Sent) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "requests %d in %v (%.0f/s), failed %d, latency p50 %v p99 %v max %v\n",
		s.Sent, s.Elapsed.Round(time.Millisecond), rate, s.Failed, s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.Max.Round(time.Microsecond))
	for _, r := range slices.Sorted(maps.Keys(s.Errors)) {
		fmt.Fprintf(w, "  failed %6d  %s\n", s.Errors[r], r)
	}
	ids := slices.Sorted(maps.Keys(s.PerReplica))
	fmt.Fprintf(w, "answered by %d replicas (max/min %.2f):\n", len(ids), s.Spread())
	for _, id := range ids {
		fmt.Fprintf(w, "  %6d  %s\n", s.PerReplica[id], id)
	}
}
