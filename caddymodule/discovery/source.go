package discovery

// This file says what a source is: the part of discovery that reads one
// Docker engine.

import "context"

// Source lists one Docker engine (a swarm's services, or an engine's
// containers) and keeps its watcher's table current.
type Source interface {
	// Engine names the engine the source reads: its Docker host.
	Engine() string
	// Run lists the engine, follows it and publishes every listing
	// through feed, until ctx ends. It retries what fails: it returns
	// only when ctx ends, having stopped every goroutine it started.
	Run(ctx context.Context, feed *Feed)
	// Close releases the source's connection to the engine, once Run has
	// returned.
	Close() error
}

// Scaler is a source that can write one thing to its engine: the number
// of replicas of a service it routes.
type Scaler interface {
	Scale(ctx context.Context, service string, replicas uint64) error
}
