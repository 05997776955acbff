package caddymodule

// This file logs what a new route table changes, once per change.

import (
	"slices"

	"go.uber.org/zap"
)

// logChanges logs, once each, the routes that appeared, disappeared or
// changed replica count, and the problems that are new.
func logChanges(l *zap.Logger, prev, next *routeTable, prevRep, nextRep buildReport) {
	for p, r := range next.byPrefix {
		old, ok := prev.byPrefix[p]
		switch {
		case !ok:
			l.Info("route added", zap.String("prefix", p), zap.String("service", r.Service), zap.Int("replicas", len(r.Upstreams)))
		case old.Service != r.Service:
			l.Info("route changed service", zap.String("prefix", p), zap.String("from", old.Service), zap.String("service", r.Service), zap.Int("replicas", len(r.Upstreams)))
		case len(old.Upstreams) != len(r.Upstreams):
			l.Info("replicas changed", zap.String("prefix", p), zap.String("service", r.Service), zap.Int("from", len(old.Upstreams)), zap.Int("replicas", len(r.Upstreams)))
		case !slices.Equal(old.Upstreams, r.Upstreams):
			l.Debug("replicas replaced", zap.String("prefix", p), zap.String("service", r.Service), zap.Strings("upstreams", r.Upstreams))
		}
	}
	for p, r := range prev.byPrefix {
		if _, ok := next.byPrefix[p]; !ok {
			l.Info("route removed", zap.String("prefix", p), zap.String("service", r.Service))
		}
	}
	for svc, msg := range nextRep.problems {
		if prevRep.problems[svc] != msg {
			l.Warn(msg, zap.String("service", svc))
		}
	}
}
