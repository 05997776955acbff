package caddymodule

// This file logs what a new route table changes, once per change.

import (
	"slices"

	"go.uber.org/zap"
)

// logChanges logs, once each, the routes that appeared, disappeared or
// changed replica count, and the problems that are new; it reports
// whether any route changed at all (its service, policy or replicas).
func logChanges(l *zap.Logger, prev, next *routeTable, prevRep, nextRep buildReport) (changed bool) {
	next.each(func(r *route) {
		old := prev.lookup(r.Host, r.Prefix)
		changed = changed || old == nil || old.Service != r.Service || old.Policy != r.Policy || !slices.Equal(old.Upstreams, r.Upstreams)
		switch {
		case old == nil:
			l.Info("route added", logFields(r, zap.Int("replicas", len(r.Upstreams)))...)
		case old.Service != r.Service:
			l.Info("route changed service", logFields(r, zap.String("from", old.Service), zap.Int("replicas", len(r.Upstreams)))...)
		case old.Policy != r.Policy:
			l.Info("route changed policy", logFields(r, zap.String("from", old.Policy), zap.Int("replicas", len(r.Upstreams)))...)
		case len(old.Upstreams) != len(r.Upstreams):
			l.Info("replicas changed", logFields(r, zap.Int("from", len(old.Upstreams)), zap.Int("replicas", len(r.Upstreams)))...)
		case !slices.Equal(old.Upstreams, r.Upstreams):
			l.Debug("replicas replaced", logFields(r, zap.Strings("upstreams", r.Upstreams))...)
		}
	})
	prev.each(func(r *route) {
		if next.lookup(r.Host, r.Prefix) == nil {
			changed = true
			l.Info("route removed", logFields(r)...)
		}
	})
	for k, msg := range nextRep.problems {
		if prevRep.problems[k] != msg {
			fields := []zap.Field{zap.String("service", k.Service)}
			if k.Route != "" {
				fields = append(fields, zap.String("route", k.Route))
			}
			l.Warn(msg, fields...)
		}
	}
	return changed
}

// logFields are the log fields naming a route, then extra.
func logFields(r *route, extra ...zap.Field) []zap.Field {
	f := make([]zap.Field, 0, 5+len(extra))
	if r.Host != "" {
		f = append(f, zap.String("host", r.Host))
	}
	f = append(f, zap.String("prefix", r.Prefix), zap.String("service", r.Service))
	if r.Name != "" {
		f = append(f, zap.String("route", r.Name))
	}
	if r.Policy != "" {
		f = append(f, zap.String("policy", r.Policy))
	}
	return append(f, extra...)
}
