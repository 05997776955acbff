package caddymodule

// This file runs the policy a route asks for: a Caddy named route, chosen
// by a label from the set the operator offers in swarm_route's config.

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// namedRouteKey is the key under which Caddy's Caddyfile adapter collects,
// in httpcaddyfile.Helper.State, the named routes a server block uses, and
// then attaches them to that block's server (its own `invoke` does the
// same; the constant is unexported in httpcaddyfile).
const namedRouteKey = "named_route"

// policySet is what a swarm_route offers: its policy names, and the
// routes it has warned about, so that each route asking for a policy it
// does not offer is logged once, not once per request.
type policySet struct {
	names  map[string]struct{}
	warned warnedUses
}

// policyUse names one route's use of a policy.
type policyUse struct{ service, route, policy string }

// warnedUses remembers the policy uses a module has warned about.
type warnedUses struct{ seen sync.Map } // policyUse -> struct{}

// first reports whether this is the first warning about side's use of its
// policy.
func (w *warnedUses) first(side *routing.Side) bool {
	_, seen := w.seen.LoadOrStore(policyUse{side.Service, side.Name, side.Policy}, struct{}{})
	return !seen
}

// newPolicySet checks the names a swarm_route offers.
func newPolicySet(names []string) (*policySet, error) {
	ps := &policySet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		if !labels.ValidName(n) {
			return nil, fmt.Errorf("policy %q: want a name of lower-case letters, digits, - and _", n)
		}
		if _, dup := ps.names[n]; dup {
			return nil, fmt.Errorf("policy %q is named twice", n)
		}
		ps.names[n] = struct{}{}
	}
	return ps, nil
}

// serve hands the request to the named route of rt's policy, compiled with
// next, exactly as Caddy's invoke handler does: one map lookup more than
// invoke (is the policy offered?). A route whose policy is not offered is
// disabled: it answers 503, and is logged once.
func (ps *policySet) serve(w http.ResponseWriter, r *http.Request, rt *routing.Route, side *routing.Side, next caddyhttp.Handler, log *zap.Logger) error {
	if _, ok := ps.names[side.Policy]; !ok {
		ps.warnOnce(rt, side, log)
		return writeText(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"503 service unavailable: service %s asks for policy %q, which this gateway does not offer\n", side.Service, side.Policy))
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("policy %q: no server in the request context", side.Policy))
	}
	nr, ok := srv.NamedRoutes[side.Policy]
	if !ok {
		return caddyhttp.Error(http.StatusInternalServerError,
			fmt.Errorf("policy %q is offered by swarm_route but is not a named route of this server", side.Policy))
	}
	return nr.Compile(next).ServeHTTP(w, r)
}

// warnOnce logs, the first time only, that a side of rt asks for a
// policy this swarm_route does not offer.
func (ps *policySet) warnOnce(rt *routing.Route, side *routing.Side, log *zap.Logger) {
	if !ps.warned.first(side) {
		return
	}
	fields := discovery.LogFields(rt, side, zap.Strings("offered", slices.Sorted(maps.Keys(ps.names))))
	log.Warn("route not routed: its policy is not offered by swarm_route (define the named route and list it in swarm_route's policies)", fields...)
}

// usePolicies records, for the Caddyfile adapter, that the server block
// being parsed runs these named routes, so that it attaches them to the
// server (and fails the load for one that is not defined), as it does for
// `invoke`.
func usePolicies(h httpcaddyfile.Helper, names []string) {
	if len(names) == 0 {
		return
	}
	used, _ := h.State[namedRouteKey].(map[string]struct{})
	if used == nil {
		used = make(map[string]struct{})
		h.State[namedRouteKey] = used
	}
	for _, n := range names {
		used[n] = struct{}{}
	}
}
