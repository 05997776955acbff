package discovery

// This file logs what a new table changes, once per change.

import (
	"slices"

	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// logChanges logs, once each, the sides that appeared, disappeared or
// changed replica count, and the problems that are new; it reports
// whether any route changed at all (its service, policy or replicas).
func logChanges(l *zap.Logger, prev, next *Snapshot) (changed bool) {
	next.Table.EachSide(func(r *routing.Route, s *routing.Side) {
		var old *routing.Side
		oldRoute := prev.Table.Lookup(r.Host, r.Prefix)
		if oldRoute != nil {
			old = oldRoute.Side(s.Service, s.Name)
		}
		changed = changed || old == nil || old.Policy != s.Policy || !slices.Equal(old.Upstreams, s.Upstreams) ||
			old.Weight != s.Weight || oldRoute.Weighted != r.Weighted
		switch {
		case oldRoute == nil:
			l.Info("route added", LogFields(r, s, zap.Int("replicas", len(s.Upstreams)))...)
		case old == nil && (r.Weighted || oldRoute.Weighted):
			l.Info("side added", LogFields(r, s, zap.Int("replicas", len(s.Upstreams)))...)
		case old == nil:
			l.Info("route changed service", LogFields(r, s, zap.String("from", oldRoute.Sides[0].Service), zap.Int("replicas", len(s.Upstreams)))...)
		case old.Policy != s.Policy:
			l.Info("route changed policy", LogFields(r, s, zap.String("from", old.Policy), zap.Int("replicas", len(s.Upstreams)))...)
		case old.Weight != s.Weight || oldRoute.Weighted != r.Weighted:
			l.Info("weight changed", LogFields(r, s, zap.Uint32("from", old.Weight))...)
		case len(old.Upstreams) != len(s.Upstreams):
			l.Info("replicas changed", LogFields(r, s, zap.Int("from", len(old.Upstreams)), zap.Int("replicas", len(s.Upstreams)))...)
		case !slices.Equal(old.Upstreams, s.Upstreams):
			l.Debug("replicas replaced", LogFields(r, s, zap.Strings("upstreams", s.Upstreams))...)
		}
	})
	prev.Table.Each(func(r *routing.Route) {
		cur := next.Table.Lookup(r.Host, r.Prefix)
		if cur == nil {
			changed = true
			l.Info("route removed", LogFields(r, &r.Sides[0])...)
			return
		}
		for i := range r.Sides {
			if s := &r.Sides[i]; r.Weighted && cur.Side(s.Service, s.Name) == nil {
				changed = true
				l.Info("side removed", LogFields(r, s)...)
			}
		}
	})
	for k, p := range next.Report.Problems {
		if prev.Report.Problems[k].Message != p.Message {
			fields := []zap.Field{zap.String("service", k.Service)}
			if k.Engine != "" {
				fields = append(fields, zap.String("engine", k.Engine))
			}
			if k.Route != "" {
				fields = append(fields, zap.String("route", k.Route))
			}
			l.Warn(p.Message, fields...)
		}
	}
	return changed
}

// LogFields are the log fields naming a side of a route, then extra.
func LogFields(r *routing.Route, s *routing.Side, extra ...zap.Field) []zap.Field {
	f := make([]zap.Field, 0, 7+len(extra))
	if s.Engine != "" {
		f = append(f, zap.String("engine", s.Engine))
	}
	if r.Host != "" {
		f = append(f, zap.String("host", r.Host))
	}
	f = append(f, zap.String("prefix", r.Prefix), zap.String("service", s.Service))
	if s.Name != "" {
		f = append(f, zap.String("route", s.Name))
	}
	if s.Policy != "" {
		f = append(f, zap.String("policy", s.Policy))
	}
	if r.Weighted {
		f = append(f, zap.Uint32("weight", s.Weight))
	}
	return append(f, extra...)
}
