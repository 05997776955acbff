package routing

import (
	"math"
	"testing"
)

// TestMeterTurn checks that each side's round-robin turns are its own,
// counted from 0, kept across tables while the side is routed (and on
// every host it claims), dropped with it, and that they wrap at 2^64.
func TestMeterTurn(t *testing.T) {
	table := func(withB bool) *Table {
		t := NewTable()
		t.Add(NewRoute("", "/a", Side{Service: "a", Upstreams: []string{"10.0.0.1:80", "10.0.0.2:80"}}))
		t.Add(NewRoute("a.test", "/", Side{Service: "a", Upstreams: []string{"10.0.0.1:80", "10.0.0.2:80"}}))
		if withB {
			t.Add(NewRoute("", "/b", Side{Service: "b", Upstreams: []string{"10.0.0.3:80"}}))
		}
		return t
	}
	var meters Meters
	t1 := table(true)
	meters.Attach(t1, func(Replica) {})
	a, b := t1.Lookup("", "/a").Pick().Meter, t1.Lookup("", "/b").Pick().Meter
	for want := range uint64(3) {
		if got := a.Turn(); got != want {
			t.Fatalf("a's turn %d, want %d", got, want)
		}
	}
	if got := b.Turn(); got != 0 {
		t.Errorf("b's first turn is %d, want 0: a's turns advanced it", got)
	}
	if got := t1.Lookup("a.test", "/").Pick().Meter.Turn(); got != 3 {
		t.Errorf("a's turn on its other host is %d, want 3 (one counter for the side)", got)
	}

	t2 := table(true)
	meters.Attach(t2, func(Replica) {})
	if got := t2.Lookup("", "/a").Pick().Meter.Turn(); got != 4 {
		t.Errorf("a's turn in the next table is %d, want 4 (kept)", got)
	}
	meters.Attach(table(false), func(Replica) {})
	t4 := table(true)
	meters.Attach(t4, func(Replica) {})
	if got := t4.Lookup("", "/b").Pick().Meter.Turn(); got != 0 {
		t.Errorf("b's turn after a table without it is %d, want 0 (dropped)", got)
	}

	m := t4.Lookup("", "/a").Pick().Meter
	m.stats.turns.Store(math.MaxUint64)
	if got := m.Turn(); got != math.MaxUint64 {
		t.Errorf("turn %d, want 2^64-1", got)
	}
	if got := m.Turn(); got != 0 {
		t.Errorf("turn after 2^64-1 is %d, want 0 (wrapped)", got)
	}
}
