package discovery

// This file holds how sources and the watcher settle claims on a host and
// prefix in a table being built: the oldest claim wins, and what lost is
// told why.

import (
	"fmt"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// Claim puts side's claim on host and prefix in t, claims being made
// oldest first, and returns why it lost, "" if it did not. The oldest
// claim owns the route: an unweighted one alone, as it always did; a
// weighted one shares it with every weighted claim that follows, and
// unweighted ones lose.
func Claim(t *routing.Table, host, prefix string, side routing.Side, weighted bool) string {
	newRoute := routing.NewRoute
	if weighted {
		newRoute = routing.NewWeightedRoute
	}
	r := newRoute(host, prefix, side)
	if t.Add(r) || weighted && t.Join(host, prefix, side) {
		return ""
	}
	owner := t.Lookup(host, prefix)
	msg := fmt.Sprintf("%s is already claimed by %s", claimOf(r), describe(owner.Sides[0]))
	switch {
	case weighted:
		return msg + ", which has no weight (give it a weight label to share the route)"
	case owner.Weighted:
		return msg + ", whose weighted claims share it (give this one a weight label to join them)"
	}
	return msg
}

// NotRouted starts the message of a service or route that is not routed.
func NotRouted(route string) string {
	if route == "" {
		return "service not routed: "
	}
	return "route " + route + " not routed: "
}

// claimOf describes what a route claims: "prefix /api on host a.example".
func claimOf(r *routing.Route) string {
	if r.Host == "" {
		return "prefix " + r.Prefix
	}
	return "prefix " + r.Prefix + " on host " + r.Host
}

// describe names the owner of a claim: its service, its route if named,
// and its engine if it has one.
func describe(s routing.Side) string {
	d := "older service " + s.Service
	if s.Name != "" {
		d = fmt.Sprintf("route %s of older service %s", s.Name, s.Service)
	}
	if s.Engine != "" {
		d += " of engine " + s.Engine
	}
	return d
}

// onEngine starts the message of what an engine's service lost: "engine
// green: ", or "" for no engine.
func onEngine(engine string) string {
	if engine == "" {
		return ""
	}
	return "engine " + engine + ": "
}

// ReplicaAddrs returns the dial addresses of reps, in their order.
func ReplicaAddrs(reps []routing.Replica) []string {
	addrs := make([]string, len(reps))
	for i, r := range reps {
		addrs[i] = r.Addr
	}
	return addrs
}
