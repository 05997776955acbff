package discovery

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// TestLogChanges: each kind of change is logged once and reported as a
// change; a table routing the same as before is neither.
func TestLogChanges(t *testing.T) {
	base := func() *routing.Side {
		return &routing.Side{Service: "app", Upstreams: []string{"10.0.0.1:80", "10.0.0.2:80"}}
	}
	tests := []struct {
		name    string
		edit    func(*routing.Side) *routing.Side // the next table's side, nil for none
		wantMsg string                            // the one entry logged, "" for none
	}{
		{"nothing", func(s *routing.Side) *routing.Side { return s }, ""},
		{"added", nil, "route added"}, // prev and next swapped below
		{"removed", func(*routing.Side) *routing.Side { return nil }, "route removed"},
		{"service", func(s *routing.Side) *routing.Side { s.Service = "other"; return s }, "route changed service"},
		{"policy", func(s *routing.Side) *routing.Side { s.Policy = "sticky"; return s }, "route changed policy"},
		{"weight", func(s *routing.Side) *routing.Side { s.Weight = 5; return s }, "weight changed"},
		{"replica count", func(s *routing.Side) *routing.Side { s.Upstreams = s.Upstreams[:1]; return s }, "replicas changed"},
		{"replica replaced", func(s *routing.Side) *routing.Side { s.Upstreams = []string{"10.0.0.1:80", "10.0.0.3:80"}; return s }, "replicas replaced"},
	}
	snapshot := func(s *routing.Side) *Snapshot {
		t := routing.NewTable()
		if s != nil {
			t.Add(routing.NewRoute("app.test", "/app", *s))
		}
		return &Snapshot{Table: t, Report: NewReport()}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, next := snapshot(base()), snapshot(nil)
			if tt.edit == nil {
				prev, next = next, prev
			} else {
				next = snapshot(tt.edit(base()))
			}
			core, logs := observer.New(zap.DebugLevel)
			changed := logChanges(zap.New(core), prev, next)
			if changed != (tt.wantMsg != "") {
				t.Errorf("changed = %v", changed)
			}
			var got []string
			for _, e := range logs.All() {
				got = append(got, e.Message)
			}
			if (tt.wantMsg == "" && len(got) != 0) || (tt.wantMsg != "" && (len(got) != 1 || got[0] != tt.wantMsg)) {
				t.Errorf("logged %q, want %q", got, tt.wantMsg)
			}
		})
	}
}

// TestLogWeightedSides: a side that joins or leaves a weighted route is
// logged as such, once, and is a change.
func TestLogWeightedSides(t *testing.T) {
	snapshot := func(services ...string) *Snapshot {
		t := routing.NewTable()
		for i, s := range services {
			side := routing.Side{Service: s, Weight: 1, Upstreams: []string{"10.0.0.1:80"}}
			if i == 0 {
				t.Add(routing.NewWeightedRoute("", "/app", side))
			} else {
				t.Join("", "/app", side)
			}
		}
		return &Snapshot{Table: t, Report: NewReport()}
	}
	for _, tt := range []struct {
		name       string
		prev, next *Snapshot
		want       string
	}{
		{"joins", snapshot("blue"), snapshot("blue", "green"), "side added"},
		{"leaves", snapshot("blue", "green"), snapshot("blue"), "side removed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			changed := logChanges(zap.New(core), tt.prev, tt.next)
			var got []string
			for _, e := range logs.All() {
				got = append(got, e.Message)
			}
			if !changed || len(got) != 1 || got[0] != tt.want {
				t.Errorf("changed %v, logged %q; want a change and %q", changed, got, tt.want)
			}
		})
	}
}
