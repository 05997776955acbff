package e2e

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// metric is one of the figures the bench measures for each contender in
// each round.
type metric int

const (
	mRPS  metric = iota // wrk's requests per second at saturation
	mCPU                // the container's CPU time per request under wrk, µs
	mP50                // latency at the fixed rate, µs
	mP99                // latency at the fixed rate, µs
	mP999               // latency at the fixed rate, µs
	numMetrics
)

var metricNames = [numMetrics]string{"req/s", "CPU/request", "p50", "p99", "p99.9"}

// ratios are c's figure over b's, round by round: paired, so that a round
// the machine was busier for both counts once, not twice.
func (c *contender) ratios(b *contender, m metric) []float64 {
	r := make([]float64, len(c.vals[m]))
	for i := range r {
		r[i] = c.vals[m][i] / b.vals[m][i]
	}
	return r
}

// spread is the median of per-round values and their range.
type spread struct{ med, lo, hi float64 }

func spreadOf(v []float64) spread {
	return spread{median(v), slices.Min(v), slices.Max(v)}
}

func (s spread) String() string { return fmt.Sprintf("%.3f (%.3f-%.3f)", s.med, s.lo, s.hi) }

// median returns the middle of the values (the upper middle of an even
// count), leaving v as it is.
func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// resolution is what the A/A pair (one contender under two names) shows:
// for each metric, the largest difference from 1 of their ratio in any
// round. A difference smaller than that cannot be told from none.
type resolution [numMetrics]float64

func resolutionOf(a, b *contender) resolution {
	var r resolution
	for m := range numMetrics {
		for _, x := range a.ratios(b, m) {
			r[m] = max(r[m], math.Abs(x-1))
		}
	}
	return r
}

func (r resolution) String() string {
	parts := make([]string, numMetrics)
	for m := range numMetrics {
		parts[m] = fmt.Sprintf("%s ±%.1f%%", metricNames[m], 100*r[m])
	}
	return strings.Join(parts, ", ")
}

// difference is a median ratio's difference from 1, or "none" when the
// resolution cannot tell it from none.
func (r resolution) difference(m metric, ratio float64) string {
	if math.Abs(ratio-1) <= r[m] {
		return "none"
	}
	return fmt.Sprintf("%+.1f%%", 100*(ratio-1))
}

// verdict compares a median ratio with a target it must reach (at least
// the target when atLeast, else at most): PASS or MISS only when the
// target lies outside the resolution around the figure.
func (r resolution) verdict(m metric, ratio, target float64, atLeast bool) string {
	op, ok := "≤", ratio <= target
	if atLeast {
		op, ok = "≥", ratio >= target
	}
	want := fmt.Sprintf("%s %.2f", op, target)
	if math.Abs(ratio-target) <= r[m] {
		return fmt.Sprintf("no verdict (%s, within the resolution ±%.1f%%)", want, 100*r[m])
	}
	return verdictOf(ok, want)
}

func verdictOf(ok bool, target string) string {
	if ok {
		return "PASS (" + target + ")"
	}
	return "MISS (" + target + ")"
}

// benchTable prints each contender's figures: the medians, and the
// ratios to the baseline (the first) of the same round, as median
// (min-max) over the rounds with the difference the resolution allows.
func benchTable(cs []*contender, res resolution) string {
	var b strings.Builder
	base := cs[0]
	fmt.Fprintf(&b, "%-48s | %18s %-28s | %11s %-28s | %8s %-14s | %8s %-14s | %8s | %s\n",
		"contender", "req/s median", "× baseline (min-max), diff", "CPU/request", "× baseline (min-max), diff",
		"p50", "× base, diff", "p99", "× base, diff", "p99.9", "RSS after")
	for _, c := range cs {
		cell := func(m metric) string {
			s := spreadOf(c.ratios(base, m))
			return fmt.Sprintf("%s %s", s, res.difference(m, s.med))
		}
		lat := func(m metric) string {
			med := median(c.ratios(base, m))
			return fmt.Sprintf("%.3f %s", med, res.difference(m, med))
		}
		fmt.Fprintf(&b, "%-48s | %18.0f %-28s | %9.1fµs %-28s | %6.0fµs %-14s | %6.0fµs %-14s | %6.0fµs | %6.1f MB\n",
			c.name, median(c.vals[mRPS]), cell(mRPS), median(c.vals[mCPU]), cell(mCPU),
			median(c.vals[mP50]), lat(mP50), median(c.vals[mP99]), lat(mP99), median(c.vals[mP999]), c.rssMB)
	}
	return b.String()
}

// pairLine compares a with b, paired by round: requests per second and CPU
// per request, median (min-max) and the difference the resolution allows.
func pairLine(name string, a, b *contender, res resolution) string {
	rps, cpu := spreadOf(a.ratios(b, mRPS)), spreadOf(a.ratios(b, mCPU))
	return fmt.Sprintf("  %-60s req/s %s %-6s | CPU/request %s %s\n", name, rps, res.difference(mRPS, rps.med), cpu, res.difference(mCPU, cpu.med))
}

// leversTable is the effect of each tuning lever, from the full bench's
// contenders: the untuned gateway, each of the two shipped levers alone,
// and the shipped gateway built with PGO.
func leversTable(shipped, baseline, untuned, lazyOnly, gcOnly, pgo *contender, res resolution) string {
	var out strings.Builder
	out.WriteString("levers (a / b, paired by round; CPU/request below 1 is cheaper):\n")
	for _, l := range []struct {
		name string
		a, b *contender
	}{
		{"lazy log, alone: lazy log only / untuned", lazyOnly, untuned},
		{"lazy log, with the GC settings: shipped / GC settings only", shipped, gcOnly},
		{"GC settings, alone: GC settings only / untuned", gcOnly, untuned},
		{"GC settings, with the lazy log: shipped / lazy log only", shipped, lazyOnly},
		{"both: shipped / untuned", shipped, untuned},
		{"PGO, added to the shipped gateway: built with PGO / shipped", pgo, shipped},
		{"the untuned gateway / stock caddy, static upstreams", untuned, baseline},
	} {
		out.WriteString(pairLine(l.name, l.a, l.b, res))
	}
	return out.String()
}

// roundsTSV is every contender's figure in every round (round numbers
// from 1, in the order each metric's rounds ran), for the table's medians
// and spreads to be checked or analysed again: contender, metric, round,
// value (requests/s; CPU/request and latencies in µs).
func roundsTSV(cs []*contender) string {
	var b strings.Builder
	b.WriteString("contender\tmetric\tround\tvalue\n")
	for _, c := range cs {
		for m := range numMetrics {
			for r, v := range c.vals[m] {
				fmt.Fprintf(&b, "%s\t%s\t%d\t%.2f\n", c.name, metricNames[m], r+1, v)
			}
		}
	}
	return b.String()
}
