// Package swarmsource is the swarm source of discovery: the one package
// that calls the Docker Engine API for swarm services. It lists the
// services that opt in by label, their tasks and the networks, follows the
// event stream, and builds the route table every listing gives.
//
// Files: source.go (the source, its options and Docker client), loop.go
// (what is listed when), docker.go (every Docker API call), stream.go (the
// event stream), build.go (a listing into a route table), networks.go
// (which network a service is reached on), scaler.go (the one write: a
// service's replica count).
package swarmsource

// This file holds the swarm source: its options, its Docker client, and
// the run of its loop.

import (
	"context"
	"time"

	"github.com/docker/docker/client"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// Options say which swarm to read and how. The Caddy modules fill them in
// from their discovery options, defaults set and checked.
type Options struct {
	// Conn says how to reach the Docker API.
	engine.Conn
	// LabelPrefix is the prefix of the labels read ("faas").
	LabelPrefix string
	// Network is the preferred network to reach services on, "" for none.
	Network string
	// LB is the default load-balancing mode (labels.LBTasks, LBLocal or
	// LBVIP).
	LB string
	// NodeID is the ID of the swarm node the gateway runs on, "" if
	// unknown: `lb local` prefers the replicas there.
	NodeID string
	// ResyncInterval is the period of the full listing that backs up the
	// event stream; ConvergeInterval that of the re-lists of converging
	// services; APITimeout the time limit of each call.
	ResyncInterval, ConvergeInterval, APITimeout time.Duration
	// PollOnly turns the event stream off.
	PollOnly bool
	// ScaleLog, if set, logs what the scale calls checked in-process (on
	// a Docker socket) write and refuse.
	ScaleLog *zap.Logger
	// PublishHost, when set, says that the engine is not the gateway's
	// own: its services are reached at this host, on the ports they
	// publish, not on the swarm's networks.
	PublishHost string
}

// Source is the swarm source: it routes to the tasks of the swarm services
// that opt in by label. It is driven by the Docker event stream (service
// and network events: it re-lists the services they name, or the
// networks), re-lists the converging services every converge interval
// while some converge, lists everything every resync interval as a safety
// net, and re-lists the tasks of a service whose requests fail. What a
// listing costs grows with what it is about, not with the swarm: a full
// one asks for the opted-in services, their tasks and (when a network
// event, a new network or the periodic resync says so) the networks, in
// at most three calls; a re-list that an event or a convergence causes
// asks for those services and their tasks only. On an engine that is no
// swarm manager it routes nothing and counts as listed, checking again
// every resync interval.
type Source struct {
	engine.Reader[dockerAPI]
	opts Options
}

// New returns the source of the swarm that opts names. It does not call
// Docker.
func New(opts Options) (*Source, error) {
	api, err := newDockerClient(opts)
	if err != nil {
		return nil, err
	}
	return newSource(api, opts), nil
}

func newSource(api dockerAPI, opts Options) *Source {
	return &Source{Reader: engine.NewReader(api), opts: opts}
}

// newDockerClient is the client of the engine o names.
func newDockerClient(o Options) (dockerAPI, error) {
	return engine.NewClient(o.Conn)
}

// Run lists the swarm and follows it until ctx ends.
func (s *Source) Run(ctx context.Context, feed *discovery.Feed) {
	l := s.newLoop(feed)
	defer l.stream.close()
	l.run(ctx)
}

var (
	_ discovery.Source = (*Source)(nil)
	_ discovery.Scaler = (*Source)(nil)
	_ dockerAPI        = (*client.Client)(nil)
)
