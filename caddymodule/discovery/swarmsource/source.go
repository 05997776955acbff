// Package swarmsource is the swarm source of discovery: the one package
// that calls the Docker Engine API for swarm services. It lists the
// services that opt in by label, their tasks and the networks, follows the
// event stream, and builds the route table every listing gives.
//
// Files: source.go (the source, its options and Docker client), loop.go
// (what is listed when), docker.go (every Docker API call), stream.go (the
// event stream), build.go (a listing into a route table), networks.go
// (which network a service is reached on).
package swarmsource

// This file holds the swarm source: its options, its Docker client, and
// the run of its loop.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/docker/docker/client"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
)

// Options say which swarm to read and how. The Caddy modules fill them in
// from their discovery options, defaults set and checked.
type Options struct {
	// DockerHost, TLSCA, TLSCert and TLSKey say how to reach the Docker
	// API; empty ones come from the environment, as for the docker CLI.
	DockerHost, TLSCA, TLSCert, TLSKey string
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
// asks for those services and their tasks only.
type Source struct {
	api  dockerAPI
	opts Options
	// localAddrs returns the gateway's own addresses; replaced in tests.
	localAddrs func() []netip.Addr
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
	return &Source{api: api, opts: opts, localAddrs: interfaceAddrs}
}

// newDockerClient connects the way the docker CLI does: DOCKER_HOST,
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from the environment, overridden by
// the options when they are set. The API version is negotiated with the
// engine, never pinned, so both old engines (API 1.41) and current ones
// (which refuse anything below 1.44) work. The client negotiates on its
// first call and is not safe for concurrent calls until then, so the loop
// opens the event stream only after a listing has succeeded.
func newDockerClient(o Options) (dockerAPI, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if o.DockerHost != "" {
		opts = append(opts, client.WithHost(o.DockerHost))
	}
	if o.TLSCert != "" || o.TLSKey != "" || o.TLSCA != "" {
		opts = append(opts, client.WithTLSClientConfig(o.TLSCA, o.TLSCert, o.TLSKey))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	return cli, nil
}

// Engine names the Docker API the source reads.
func (s *Source) Engine() string { return s.api.DaemonHost() }

// Close closes the Docker client.
func (s *Source) Close() error { return s.api.Close() }

// Run lists the swarm and follows it until ctx ends.
func (s *Source) Run(ctx context.Context, feed *discovery.Feed) {
	l := s.newLoop(feed)
	defer l.stream.close()
	l.run(ctx)
}

// interfaceAddrs lists the addresses of this host's (or container's)
// interfaces, to tell which swarm networks the gateway is attached to.
func interfaceAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(ifAddrs))
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

var (
	_ discovery.Source = (*Source)(nil)
	_ dockerAPI        = (*client.Client)(nil)
)
