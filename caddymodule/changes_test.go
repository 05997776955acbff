package caddymodule

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogChanges: each kind of change is logged once and reported as a
// change; a table routing the same as before is neither.
func TestLogChanges(t *testing.T) {
	base := func() *route {
		return &route{Host: "app.test", Prefix: "/app", Service: "app", Upstreams: []string{"10.0.0.1:80", "10.0.0.2:80"}}
	}
	tests := []struct {
		name    string
		edit    func(*route) *route // the next table's route, nil for none
		wantMsg string              // the one entry logged, "" for none
	}{
		{"nothing", func(r *route) *route { return r }, ""},
		{"added", nil, "route added"}, // prev and next swapped below
		{"removed", func(*route) *route { return nil }, "route removed"},
		{"service", func(r *route) *route { r.Service = "other"; return r }, "route changed service"},
		{"policy", func(r *route) *route { r.Policy = "sticky"; return r }, "route changed policy"},
		{"replica count", func(r *route) *route { r.Upstreams = r.Upstreams[:1]; return r }, "replicas changed"},
		{"replica replaced", func(r *route) *route { r.Upstreams = []string{"10.0.0.1:80", "10.0.0.3:80"}; return r }, "replicas replaced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, next := newRouteTable(), newRouteTable()
			prev.add(base())
			if tt.edit == nil {
				prev, next = next, prev
			} else if r := tt.edit(base()); r != nil {
				next.add(r)
			}
			core, logs := observer.New(zap.DebugLevel)
			changed := logChanges(zap.New(core), prev, next, buildReport{}, buildReport{})
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
