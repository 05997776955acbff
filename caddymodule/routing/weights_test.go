package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// weightedRoute is a weighted route on /w with a side per weight, side i
// of service "s<i>" with replicas[i] replicas (1 if replicas is short).
func weightedRoute(t testing.TB, weights []uint32, replicas ...int) *Route {
	t.Helper()
	table := NewTable()
	for i, w := range weights {
		s := Side{Service: fmt.Sprintf("s%d", i), Weight: w}
		n := 1
		if i < len(replicas) {
			n = replicas[i]
		}
		for j := range n {
			s.Upstreams = append(s.Upstreams, fmt.Sprintf("10.0.%d.%d:80", i, j))
		}
		if i == 0 {
			if !table.Add(NewWeightedRoute("", "/w", s)) {
				t.Fatal("the first side's route was not added")
			}
		} else if !table.Join("", "/w", s) {
			t.Fatalf("side %d did not join the weighted route", i)
		}
	}
	return table.Lookup("", "/w")
}

// withDraws makes Pick draw from a generator seeded with seed until the
// test ends.
func withDraws(t *testing.T, seed uint64) {
	old := randN
	randN = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Uint64N
	t.Cleanup(func() { randN = old })
}

// TestPickNinetyTen: 10,000 picks over weights 90/10, with the runtime's
// generator that requests draw from, land within ±1.5 points of 90/10
// (5 standard deviations: 0.3 points).
func TestPickNinetyTen(t *testing.T) {
	r := weightedRoute(t, []uint32{90, 10})
	const n = 10_000
	got := map[string]int{}
	for range n {
		got[r.Pick().Service]++
	}
	if pct := 100 * float64(got["s0"]) / n; math.Abs(pct-90) > 1.5 || got["s0"]+got["s1"] != n {
		t.Errorf("10,000 picks over 90/10: %v (%.2f %% on the first), want 90 ±1.5 %%", got, pct)
	}
}

// TestPickProperty: over random weights (some 0) and replica counts, each
// side's share of the picks is its weight's share within 4 standard
// deviations, whatever its replica count; a side of weight 0 is never
// picked. The draws are seeded, so the test gives the same answer on
// every run.
func TestPickProperty(t *testing.T) {
	withDraws(t, 23)
	gen := rand.New(rand.NewPCG(1, 2))
	const picks = 20_000
	for c := range 200 {
		weights := make([]uint32, 1+gen.IntN(6))
		replicas := make([]int, len(weights))
		var total uint64
		for i := range weights {
			if gen.IntN(5) > 0 {
				weights[i] = uint32(gen.IntN(MaxWeight + 1))
			}
			replicas[i] = 1 + gen.IntN(10)
			total += uint64(weights[i])
		}
		r := weightedRoute(t, weights, replicas...)
		if r.Total() != total {
			t.Fatalf("case %d: total %d, want %d", c, r.Total(), total)
		}
		if total == 0 {
			if s := r.Pick(); s != nil {
				t.Errorf("case %d: every weight 0, picked %s", c, s.Service)
			}
			continue
		}
		counts := make(map[*Side]int)
		for range picks {
			counts[r.Pick()]++
		}
		for i := range r.Sides {
			s := &r.Sides[i]
			p := float64(s.Weight) / float64(total)
			if p != r.Share(s) {
				t.Errorf("case %d: side %d's share %v, want %v", c, i, r.Share(s), p)
			}
			sigma := math.Sqrt(picks * p * (1 - p))
			if got, want := float64(counts[s]), picks*p; math.Abs(got-want) > 4*sigma || s.Weight == 0 && counts[s] > 0 {
				t.Errorf("case %d: weights %v, replicas %v: side %d picked %v times of %d, want %.0f ±%.0f",
					c, weights, replicas, i, got, picks, want, 4*sigma)
			}
		}
		if counts[nil] > 0 {
			t.Errorf("case %d: weights %v: %d picks of no side", c, weights, counts[nil])
		}
	}
}

// TestPickAt: the draws map onto the sides' spans of the weights, and a
// side of weight 0 has none.
func TestPickAt(t *testing.T) {
	r := weightedRoute(t, []uint32{3, 0, 2})
	want := []string{"s0", "s0", "s0", "s2", "s2", ""}
	for x, w := range want {
		got := ""
		if s := r.PickAt(uint64(x)); s != nil {
			got = s.Service
		}
		if got != w {
			t.Errorf("PickAt(%d) = %q, want %q", x, got, w)
		}
	}
}

func TestWeightedRoutes(t *testing.T) {
	t.Run("an unweighted route picks its one side, takes no other", func(t *testing.T) {
		table := NewTable()
		table.Add(NewRoute("", "/u", Side{Service: "a"}))
		if table.Join("", "/u", Side{Service: "b", Weight: 1}) || table.Join("", "/none", Side{Service: "b"}) {
			t.Error("joined an unweighted or absent route")
		}
		r := table.Lookup("", "/u")
		if s := r.Pick(); s == nil || s.Service != "a" || s.Key != "" || r.Share(s) != 1 {
			t.Errorf("Pick = %+v, want side a without a key, share 1", s)
		}
	})
	t.Run("every weight 0: no side", func(t *testing.T) {
		if s := weightedRoute(t, []uint32{0, 0}).Pick(); s != nil {
			t.Errorf("Pick = %s, want none", s.Service)
		}
	})
	t.Run("sides know their route and a stable key", func(t *testing.T) {
		r := weightedRoute(t, []uint32{1, 1})
		again := weightedRoute(t, []uint32{5, 0})
		for i := range r.Sides {
			s := &r.Sides[i]
			if s.Route() != r || r.Side(s.Service, "") != s || r.SideByKey(s.Key) != s {
				t.Errorf("side %d: route %p (want %p), or not found by name or key %q", i, s.Route(), r, s.Key)
			}
			if s.Key == "" || s.Key != again.Sides[i].Key || s.Key == r.Sides[1-i].Key {
				t.Errorf("side %d's key %q: want one of its own, the same in every table", i, s.Key)
			}
		}
		if r.SideByKey("nope") != nil || r.Side("s0", "other") != nil {
			t.Error("found a side by an unknown key or route name")
		}
	})
	t.Run("a pick does not allocate", func(t *testing.T) {
		r := weightedRoute(t, []uint32{90, 10})
		if n := testing.AllocsPerRun(1000, func() { _ = r.Pick() }); n != 0 {
			t.Errorf("Pick allocates %v times", n)
		}
	})
}

// BenchmarkPick is the side choice a request makes: the one side of an
// unweighted route, or a draw over the sides of a weighted one.
func BenchmarkPick(b *testing.B) {
	table := NewTable()
	table.Add(NewRoute("", "/u", Side{Service: "u"}))
	routes := map[string]*Route{"unweighted": table.Lookup("", "/u")}
	for _, n := range []int{2, 4} {
		routes[fmt.Sprintf("weighted/sides=%d", n)] = weightedRoute(b, make([]uint32, n))
	}
	for name, r := range routes {
		for i := range r.Sides {
			r.Sides[i].Weight = uint32(i + 1)
		}
		r.index()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r.Pick() == nil {
					b.Fatal("no side")
				}
			}
		})
	}
}
