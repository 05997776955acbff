package discovery

// This file holds the watcher's one write: a service's replica count, by
// the source of its engine that can scale.

import (
	"context"
	"fmt"
)

// Scale sets the replica count of the service of ID serviceID on the
// named engine ("" for the first, the only one of a watcher that reads
// one), through the engine's source that is a Scaler (the swarm
// source's). It makes the watcher a scaling.Scaler.
func (w *Watcher) Scale(ctx context.Context, engine, serviceID string, replicas uint64) error {
	for i, e := range w.engines {
		if engine != "" && e.name != engine || engine == "" && i > 0 {
			continue
		}
		end := len(w.sources)
		if i+1 < len(w.engines) {
			end = w.engines[i+1].first
		}
		for _, src := range w.sources[e.first:end] {
			if sc, ok := src.(Scaler); ok {
				return sc.Scale(ctx, serviceID, replicas)
			}
		}
	}
	return fmt.Errorf("scaling service %s: engine %q has no swarm source", serviceID, engine)
}
