package routing

// This file holds the load counters of the scaled services, which the
// autoscaler reads: one per service, shared by its sides, kept across
// tables for as long as the service is scaled.

import "github.com/faas-gateway/faas-gateway/caddymodule/scaling"

// Loads keeps the load counters of the tables a watcher publishes. Only
// the goroutine that publishes calls Attach.
type Loads struct {
	byKey map[string]*scaling.Load // by scaling.Key
}

// Attach gives every side of t with Scaling its service's load counter,
// kept from the last table that had it. Counters of services t no longer
// scales are dropped.
func (l *Loads) Attach(t *Table) {
	next := make(map[string]*scaling.Load, len(l.byKey))
	t.EachSide(func(_ *Route, s *Side) {
		if s.Scaling == nil {
			return
		}
		k := scaling.Key(s.Engine, s.ServiceID)
		ld := next[k]
		if ld == nil {
			if ld = l.byKey[k]; ld == nil {
				ld = new(scaling.Load)
			}
			next[k] = ld
		}
		s.Load = ld
	})
	l.byKey = next
}

// ScaledService returns what the autoscaler knows of a scaled side's
// service.
func (s *Side) ScaledService() scaling.Service {
	return scaling.Service{Engine: s.Engine, ID: s.ServiceID, Name: s.Service, Spec: *s.Scaling, Running: s.Running, Desired: s.Desired, Load: s.Load}
}

// ScaledServices returns the scaled services of t, each once (a service
// has a side per route and host).
func (t *Table) ScaledServices() []scaling.Service {
	var out []scaling.Service
	seen := make(map[*scaling.Load]bool)
	t.EachSide(func(_ *Route, s *Side) {
		if s.Scaling == nil || s.Load == nil || seen[s.Load] {
			return
		}
		seen[s.Load] = true
		out = append(out, s.ScaledService())
	})
	return out
}
