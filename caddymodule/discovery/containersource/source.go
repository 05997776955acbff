// Package containersource is the container source of discovery: it routes
// to the standalone containers of one engine (started by docker run or
// docker compose) that opt in by label, with the labels services use. It
// lists them and the engine's networks, follows their events, and builds
// the route table every listing gives. Containers of swarm tasks are the
// swarm source's and are never routed here.
//
// Files: source.go (the source and its options), loop.go (what is listed
// when, on events, timers and kicks), docker.go (every Docker API call),
// signals.go (which kill signals mean a container is leaving), build.go (a
// listing into a route table), networks.go (which network a container is
// reached on).
package containersource

// This file holds the container source: its options, its Docker client,
// and the run of its loop.

import (
	"context"
	"time"

	"github.com/docker/docker/client"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// Options say which engine to read and how. The Caddy modules fill them
// in from their discovery options, defaults set and checked.
type Options struct {
	// Conn says how to reach the Docker API.
	engine.Conn
	// LabelPrefix is the prefix of the labels read ("faas").
	LabelPrefix string
	// Network is the preferred network to reach containers on, "" for
	// none.
	Network string
	// ResyncInterval is the period of the full listing that backs up the
	// event stream; APITimeout the time limit of each call.
	ResyncInterval, APITimeout time.Duration
	// PollOnly turns the event stream off.
	PollOnly bool
	// PublishHost, when set, says that the engine is not the gateway's
	// own: its containers are reached at this host, on the ports they
	// publish, not on the engine's networks.
	PublishHost string
}

// Source is the container source. It is driven by the engine's container
// events (it re-lists the containers they name, and takes a container out
// of its routes at once when the engine sends it its stop signal), lists
// every opted-in container every resync interval as a safety net, and
// lists them again when requests fail. A listing asks for the opted-in
// running containers only, in one call, and for the networks when one of
// them is on a network it has not listed yet or the periodic resync is
// due.
type Source struct {
	engine.Reader[dockerAPI]
	opts Options
}

// New returns the source of the engine opts names. It does not call
// Docker.
func New(opts Options) (*Source, error) {
	api, err := engine.NewClient(opts.Conn)
	if err != nil {
		return nil, err
	}
	return newSource(api, opts), nil
}

func newSource(api dockerAPI, opts Options) *Source {
	return &Source{Reader: engine.NewReader(api), opts: opts}
}

// Run lists the engine's containers and follows them until ctx ends.
func (s *Source) Run(ctx context.Context, feed *discovery.Feed) {
	l := s.newLoop(feed)
	defer l.events.close()
	l.run(ctx)
}

var (
	_ discovery.Source = (*Source)(nil)
	_ dockerAPI        = (*client.Client)(nil)
)
