package caddymodule

import (
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/swarmsource"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// publish builds the table of a listing of the swarm, as the swarm source
// does with the default options, and publishes it on w as a full listing.
func publish(w *discovery.Watcher, st swarmsource.State) {
	t, rep := swarmsource.Build(st, swarmsource.Options{LabelPrefix: "faas", LB: labels.LBTasks})
	discovery.NewFeed(w).Publish(t, rep, true)
}

// collectorOf is a collector of w's metrics.
func collectorOf(w *discovery.Watcher) collector {
	return collector{watcher: func() *discovery.Watcher { return w }}
}
