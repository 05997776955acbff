package routing

// This file holds a route and what it is made of: the sides that share
// its claim, and the replicas that serve each side.

import (
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// Route is one claim on a host and path prefix, with the sides that serve
// it. Routes are immutable once their table is published.
type Route struct {
	// Host is the host the route claims: a name (`app.example.com`), a
	// wildcard one label deep (`*.example.com`), or "" for any host.
	Host   string
	Prefix string
	// Sides are the services' routes that serve the claim. An unweighted
	// route has one side, the service that claimed it first; a weighted
	// route has every weighted claim on its host and prefix, in the order
	// they claimed it (oldest first).
	Sides []Side
	// Weighted is true for a route whose claims carry weights: a request
	// goes to one of its sides in proportion to their weights (Pick).
	Weighted bool

	// cum are the running sums of the sides' weights (cum[i] is the sum
	// up to and including side i), and total the sum of all: a draw in
	// [0,total) falls in the side whose span holds it.
	cum   []uint64
	total uint64
	one   [1]Side // the backing of Sides for a route of one side
}

// Side is one service's route within a Route: the service, the route's
// name within it, how its requests are prepared, and its replicas.
type Side struct {
	// Engine names the Docker engine the service is on, in a gateway that
	// reads several; "" with one.
	Engine  string
	Service string // service name
	Name    string // the route's name within its service, "" for the service-level route
	Strip   bool
	// Policy is the named route (`&(name)` in the Caddyfile) that handles
	// the side's requests, "" for the handlers that follow swarm_route.
	Policy string
	// Weight is the side's share of a weighted route's requests, relative
	// to the other sides' (0 takes the side out); 0 and unused on an
	// unweighted route.
	Weight uint32
	// Key names the side in a side cookie: the same for the same service
	// and route name on every gateway, and not the names themselves. Set
	// by Table.Add and Table.Join on a weighted route's sides, "" on an
	// unweighted route's.
	Key string
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

	// ServiceID is the service's ID on its engine, "" for containers.
	ServiceID string
	// Scaling is what the service's scaling labels allow, nil for a
	// service without them (never scaled).
	Scaling *scaling.Spec
	// Desired is the replica count of the service's spec, and Running its
	// tasks running: what a scaled side is scaled from.
	Desired, Running uint64
	// Load counts the requests of a scaled side's service (shared by its
	// sides): attached (Loads.Attach) before its table is published, nil
	// on a side without Scaling.
	Load *scaling.Load

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

// MaxWeight is the largest weight a side may have, so that the weights of
// a route's sides add up without overflow however many there are.
const MaxWeight = 1_000_000

// NewRoute returns the unweighted route claiming host and prefix with one
// side.
func NewRoute(host, prefix string, side Side) *Route {
	r := &Route{Host: host, Prefix: prefix, one: [1]Side{side}}
	r.Sides = r.one[:]
	return r
}

// NewWeightedRoute returns the weighted route claiming host and prefix
// with its first side; Table.Join adds the others.
func NewWeightedRoute(host, prefix string, side Side) *Route {
	r := NewRoute(host, prefix, side)
	r.Weighted = true
	return r
}

// Pick returns the side that serves a request: the one side of an
// unweighted route, or a side of a weighted route drawn in proportion to
// the weights, nil if every weight is 0. It draws at most one random
// number and does not allocate.
func (r *Route) Pick() *Side {
	if !r.Weighted {
		return &r.Sides[0] // inlined: what an unweighted route costs
	}
	return r.pickWeighted()
}

// pickWeighted is Pick for a weighted route.
func (r *Route) pickWeighted() *Side {
	if r.total == 0 {
		return nil
	}
	return r.PickAt(randN(r.total))
}

// PickAt returns the side of a weighted route whose span of the weights
// holds x, a draw in [0,Total()): the side i with cum[i-1] <= x < cum[i].
// Sides of weight 0 have an empty span and are never returned. A route
// has few sides, so the search is linear.
func (r *Route) PickAt(x uint64) *Side {
	for i, c := range r.cum {
		if x < c {
			return &r.Sides[i]
		}
	}
	return nil
}

// Total returns the sum of a weighted route's weights, 0 for an
// unweighted route.
func (r *Route) Total() uint64 { return r.total }

// Share returns the part of the route's requests that side s gets, from
// 0 to 1: its weight over the route's total (0 when the total is 0), 1
// for the side of an unweighted route.
func (r *Route) Share(s *Side) float64 {
	if !r.Weighted {
		return 1
	}
	if r.total == 0 {
		return 0
	}
	return float64(s.Weight) / float64(r.total)
}

// Side returns the route's side of the named service and route name, or
// nil: how a retry finds the current replicas of the side its request was
// given.
func (r *Route) Side(service, name string) *Side {
	for i := range r.Sides {
		if s := &r.Sides[i]; s.Service == service && s.Name == name {
			return s
		}
	}
	return nil
}

// SideByKey returns the side whose Key is key, or nil: how a side cookie
// finds its side.
func (r *Route) SideByKey(key string) *Side {
	for i := range r.Sides {
		if r.Sides[i].Key == key {
			return &r.Sides[i]
		}
	}
	return nil
}

// index sets what the route's sides know of it and what Pick reads:
// their route and, on a weighted route, their keys and the running sums
// of their weights.
func (r *Route) index() {
	for i := range r.Sides {
		r.Sides[i].route = r
	}
	if !r.Weighted {
		return
	}
	r.total, r.cum = 0, make([]uint64, len(r.Sides))
	for i := range r.Sides {
		s := &r.Sides[i]
		s.Key = sideKeyOf(s.Service, s.Name)
		r.total += uint64(s.Weight)
		r.cum[i] = r.total
	}
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
