package routing

// This file holds a route and what it is made of: the sides that share
// its claim, and the replicas that serve each side.

import "time"

// Route is one claim on a host and path prefix, with the sides that serve
// it. Routes are immutable once added to a table.
type Route struct {
	// Host is the host the route claims: a name (`app.example.com`), a
	// wildcard one label deep (`*.example.com`), or "" for any host.
	Host   string
	Prefix string
	// Sides are the services' routes that serve the claim. A route has
	// one side, the service that claimed it first; weighted routing gives
	// a route several, each a service with its own replicas.
	Sides []Side

	one [1]Side // the backing of Sides for a route of one side
}

// Side is one service's route within a Route: the service, the route's
// name within it, how its requests are prepared, and its replicas.
type Side struct {
	Service string // service name
	Name    string // the route's name within its service, "" for the service-level route
	Strip   bool
	// Policy is the named route (`&(name)` in the Caddyfile) that handles
	// the side's requests, "" for the handlers that follow swarm_route.
	Policy string
	// Upstreams are dial addresses (host:port), sorted, one per running
	// replica (or the service's virtual IP in vip mode).
	Upstreams []string
	// Replicas describe the Upstreams, in the same order.
	Replicas []Replica
	// Local are the Upstreams on the gateway's own node, for a side that
	// prefers them (`lb local`), nil otherwise or when none runs there.
	Local []string
	// Meter counts the side's requests: attached (Meters.Attach) before
	// its table is published, nil in a table that is not.
	Meter *Meter

	route *Route // the route the side serves, set by Table.Add
}

// Replica is what serves one of a side's upstreams: a running task or
// container, or the service's virtual IP.
type Replica struct {
	Addr   string // dial address
	TaskID string // "" for a virtual IP
	Task   string // task name: service.slot, or service.node for a global service
	NodeID string
	// Running is when the replica reached its current (running) state, by
	// the engine's clock.
	Running time.Time
}

// NewRoute returns the route claiming host and prefix with one side.
func NewRoute(host, prefix string, side Side) *Route {
	r := &Route{Host: host, Prefix: prefix, one: [1]Side{side}}
	r.Sides = r.one[:]
	return r
}

// Pick returns the side that serves a request. A route has one side until
// weighted routing chooses among several.
func (r *Route) Pick() *Side { return &r.Sides[0] }

// Side returns the route's side of the named service, or nil: how a retry
// finds the current replicas of the side its request was given.
func (r *Route) Side(service string) *Side {
	for i := range r.Sides {
		if r.Sides[i].Service == service {
			return &r.Sides[i]
		}
	}
	return nil
}

// Targets returns the dial addresses a request of the side goes to: the
// local ones if the side prefers them and one runs, else all.
func (s *Side) Targets() []string {
	if len(s.Local) > 0 {
		return s.Local
	}
	return s.Upstreams
}

// Route returns the route the side serves (nil before Table.Add).
func (s *Side) Route() *Route { return s.route }
