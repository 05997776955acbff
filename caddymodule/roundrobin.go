package caddymodule

// This file holds the `swarm_round_robin` load-balancing policy of
// reverse_proxy.

import (
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(new(SwarmRoundRobin))
}

// SwarmRoundRobin is Caddy's round_robin with a counter per route: the
// replicas of a service's route (the side swarm_route chose for the
// request) take turns, whatever the traffic of the other routes the same
// reverse_proxy serves. Caddy's round_robin keeps one counter for the
// handler, so that routes whose requests interleave regularly skew each
// other's spread: with route A's and route B's requests alternating 2:1
// and B on three replicas, every B request sees the counter 3 further on
// and lands on the same replica.
//
// Every try of a request takes a turn, so a retry goes to the next
// replica. A replica that is not available (out after a failure, for
// `fail_duration`; unhealthy; or at `max_requests`) is skipped, and the
// turns that would have gone to it are spread over the others in turn,
// rather than all going to the one after it.
//
// The counters are the route's, in the gateway's route table, kept across
// table rebuilds and config reloads. A request that no swarm_route chose
// a route for (a reverse_proxy with `dynamic swarm` alone, or another
// upstream source) takes turns on one counter for the handler, as with
// round_robin.
//
// EXPERIMENTAL: Subject to change.
type SwarmRoundRobin struct {
	robin atomic.Uint64 // the handler's counter, for requests without a route
}

// CaddyModule returns the Caddy module information.
func (*SwarmRoundRobin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.swarm_round_robin",
		New: func() caddy.Module { return new(SwarmRoundRobin) },
	}
}

// Select returns the available upstream whose turn it is on the request's
// route, nil if none is available.
func (p *SwarmRoundRobin) Select(pool reverseproxy.UpstreamPool, r *http.Request, _ http.ResponseWriter) *reverseproxy.Upstream {
	if len(pool) == 0 {
		return nil
	}
	turn := p.turn(r)
	// pick's first step, the rule, written out for the concrete type:
	// pick's generic call of Available is not inlined (some 10ns).
	if u := pool[turn%uint64(len(pool))]; u.Available() {
		return u
	}
	if i := pick(pool, turn); i >= 0 {
		return pool[i]
	}
	return nil
}

// turn takes the next turn of the request's route, or of the handler for
// a request without one.
func (p *SwarmRoundRobin) turn(r *http.Request) uint64 {
	if side := sideFromRequest(r); side != nil && side.Meter != nil {
		return side.Meter.Turn()
	}
	return p.robin.Add(1) - 1
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens; it has no
// options:
//
//	lb_policy swarm_round_robin
func (p *SwarmRoundRobin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the policy's name
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// available is what pick asks of an upstream.
type available interface{ Available() bool }

// pick returns the index in pool of the upstream whose turn it is, -1 if
// none is available. On turn t, it is the (t mod n)th of the n upstreams
// when that one is available (one call, as a rule); otherwise the
// (t mod k)th of the k available, so that the turns of one that is out
// go to each of the others in turn.
func pick[U available](pool []U, turn uint64) int {
	n := uint64(len(pool))
	if n == 0 {
		return -1
	}
	if i := turn % n; pool[i].Available() {
		return int(i)
	}
	var k uint64
	for _, u := range pool {
		if u.Available() {
			k++
		}
	}
	if k == 0 {
		return -1
	}
	j, last := turn%k, -1
	for i, u := range pool {
		if !u.Available() {
			continue
		}
		if j == 0 {
			return i
		}
		j, last = j-1, i
	}
	return last // fewer available than counted: one went out meanwhile
}

// Interface guards
var (
	_ reverseproxy.Selector = (*SwarmRoundRobin)(nil)
	_ caddyfile.Unmarshaler = (*SwarmRoundRobin)(nil)
)
