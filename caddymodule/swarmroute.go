package caddymodule

// This file holds the `swarm_route` HTTP handler.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

func init() {
	caddy.RegisterModule(SwarmRoute{})
}

// statusClientClosedRequest is the status logged for a request whose
// client left while it waited, as reverse_proxy logs it.
const statusClientClosedRequest = 499

// defaultWakeTimeout is wake_timeout's default.
const defaultWakeTimeout = 60 * time.Second

// defaultSideCookie is the side cookie's name when the Caddyfile's
// side_cookie names none.
const defaultSideCookie = "faas_side"

// Request variables set by SwarmRoute, readable as placeholders such as
// `{http.vars.swarm_service}`.
const (
	routeVar   = "swarm_route"   // the chosen *routing.Side, read by SwarmUpstreams
	serviceVar = "swarm_service" // name of the chosen service
	prefixVar  = "swarm_prefix"  // the prefix it claims
)

// SwarmRoute chooses the swarm service that serves a request, from the
// same route table the `swarm` upstream source reads, and prepares the
// request for it: the path is cleaned and decoded (so `/a/../b` is matched
// and sent as `/b`), the service's prefix is stripped when its
// `strip_prefix` label says so (the default) and sent in
// `X-Forwarded-Prefix` (a client's own is always removed), and the choice
// is handed to the `swarm` upstream source of the next reverse_proxy, whose
// every retry gets that service's replicas as they are at that moment.
//
// A path no service claims gets a 404 response that says so, and is not
// passed on. Only the path chooses the service: no request header does.
// Until the gateway's first full listing of the swarm (at start, and when
// a reload changes the discovery options), nothing is known, so nothing
// gets a 404: a request waits for that listing, up to ready_timeout, and
// then gets a 503 with Retry-After. While the server is shutting down
// (Caddy's `shutdown_delay`), each response closes its connection, so
// that clients reconnect, through their balancer, to another gateway.
//
// A route whose service chose a policy by label (`faas.policy`) is handled
// by the named route of that name (`&(name) { ... }` in the Caddyfile,
// the server's `named_routes` in JSON), compiled with what follows
// swarm_route as its next handler, exactly as `invoke` would run it; the
// request is prepared first, so a `dynamic swarm` in the policy proxies to
// the same service. Only the policies listed in `policies` can be chosen:
// a route asking for another is disabled (503, and one warning).
//
// A route that services share by weight (`faas.weight`) sends each
// request to one of them, drawn in proportion to their weights (with
// side_cookie, the one the client's cookie names while its weight is
// above 0), and then to that service's replicas as any route does; when
// every weight is 0 it answers 503, saying so.
//
// A service with scaling labels (`faas.scale.*`, see docs/scaling.md)
// has its requests in flight counted, which its autoscaler follows; a
// request for one with no replica running (asleep, or waking) wakes it
// and waits for a replica, up to wake_timeout, with every request that
// arrives meanwhile (then 503 with Retry-After, never 404).
//
// Put it before `reverse_proxy { dynamic swarm }`, with the same discovery
// options (or none, for the defaults) so that both share one watcher. To
// balance round robin there, use `lb_policy swarm_round_robin`, whose
// replicas take turns per route (the one chosen here), rather than Caddy's
// round_robin, whose one counter every route of the handler advances.
//
// EXPERIMENTAL: Subject to change.
type SwarmRoute struct {
	Discovery

	// How long a request that arrives before the first full listing waits
	// for it (with several engines: a request that no route listed so far
	// claims, for the listing of every engine). A request still waiting
	// then gets a 503 with Retry-After, never a 404. Default: 5s
	ReadyTimeout caddy.Duration `json:"ready_timeout,omitempty"`

	// The policies that services may choose by label: names of the
	// server's named routes (`named_routes`; `&(name)` blocks in the
	// Caddyfile), each of lower-case letters, digits, - and _. In the
	// Caddyfile, listing a name here attaches that named route to the
	// server, as `invoke` does, and a name no `&(name)` block defines
	// fails the load. A route that asks for a policy not listed here is
	// disabled: its requests get a 503, and the first one logs a warning.
	Policies []string `json:"policies,omitempty"`

	// The name of the side cookie, which keeps a client on the side of a
	// weighted route it was first sent to: a route shared by services
	// with weights (`faas.weight`) sends each request to one of them in
	// proportion to their weights, so that without the cookie one client
	// may flip between versions. With it, the first answer of a weighted
	// route sets the cookie (for the route's prefix, HttpOnly, for the
	// session) to an opaque key of the side chosen, the same on every
	// gateway; a request whose cookie names a side of the route with a
	// weight above 0 keeps that side, any other gets a fresh choice and a
	// new cookie. A policy's `lb_policy cookie` then pins the replica
	// within the side. In the Caddyfile, `side_cookie` alone names it
	// faas_side. Default: "" (no cookie)
	SideCookie string `json:"side_cookie,omitempty"`

	// How long a request for a scaled service that has no replica running
	// (asleep, or waking) waits for one: the first such request wakes the
	// service (one scale call per burst, to its minimum, at least 1), and
	// it and every request arriving meanwhile are held until a replica
	// runs, then served. This, not reverse_proxy's lb_try_duration, bounds
	// the wait: generous, for a cold start of the engine's. A request
	// still waiting then gets a 503 with Retry-After, never a 404.
	// Default: 60s
	WakeTimeout caddy.Duration `json:"wake_timeout,omitempty"`

	// Do not count this handler's requests in the per-route and
	// per-replica metrics, the routes API and the status page (the
	// discovery metrics stay). Default: false
	NoMetrics bool `json:"no_metrics,omitempty"`

	policies *policySet
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SwarmRoute) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.swarm_route",
		New: func() caddy.Module { return new(SwarmRoute) },
	}
}

// Provision fills in defaults and attaches to the shared watcher. It does
// not wait for Docker.
func (sr *SwarmRoute) Provision(ctx caddy.Context) error {
	sr.logger = ctx.Logger()
	ps, err := newPolicySet(sr.Policies)
	if err != nil {
		return err
	}
	sr.policies = ps
	if sr.SideCookie != "" {
		if err := (&http.Cookie{Name: sr.SideCookie, Value: "k"}).Valid(); err != nil {
			return fmt.Errorf("side_cookie %q: %w", sr.SideCookie, err)
		}
	}
	if err := defaultReadyTimeoutOf(&sr.ReadyTimeout); err != nil {
		return err
	}
	if err := defaultDurationOf("wake_timeout", &sr.WakeTimeout, defaultWakeTimeout); err != nil {
		return err
	}
	if err := sr.Discovery.Provision(ctx); err != nil {
		return err
	}
	registerMetrics(ctx, &sr.Discovery)
	return nil
}

// ServeHTTP routes the request to the service that claims its path.
// Before every source has listed once, a request waits for them within
// ready_timeout (then 503, not 404: a source not listed yet may claim
// it); with several engines, one that a route of the table so far claims
// is served at once, so that an engine down at start delays only the
// requests that may be its.
func (sr *SwarmRoute) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cleaned := routing.CleanPath(r.URL.Path)
	key := routing.MatchKey(cleaned)
	rt := sr.watcher.Table().Match(r.Host, key)
	if (rt == nil || !sr.watcher.ServesPartial()) && !sr.watcher.Synced() {
		if err := awaitSync(r, sr.watcher, time.Duration(sr.ReadyTimeout)); err != nil {
			if errors.Is(err, errNotSynced) {
				return writeUnavailable(w, "503 service unavailable: the gateway has not listed the swarm yet\n")
			}
			return caddyhttp.Error(statusClientClosedRequest, err)
		}
		rt = sr.watcher.Table().Match(r.Host, key)
	}
	if shuttingDown(r) {
		w.Header().Set("Connection", "close")
	}
	if rt == nil {
		return writeText(w, http.StatusNotFound, fmt.Sprintf("404 not found: no service claims the path %q\n", cleaned))
	}
	var side *routing.Side
	if !rt.Weighted {
		side = rt.Pick() // its one side, inlined: what a route costs without weights
	} else if side = sr.pickWeighted(w, r, rt); side == nil {
		return writeUnavailable(w, fmt.Sprintf("503 service unavailable: every service sharing the path %q has weight 0\n", rt.Prefix))
	}
	if side.Load != nil && sr.scaler != nil {
		return sr.serveScaled(w, r, next, side, cleaned)
	}
	return sr.serveSide(w, r, next, side, cleaned)
}

// serveSide prepares the request for side, and passes it on.
func (sr *SwarmRoute) serveSide(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, side *routing.Side, cleaned string) error {
	rt := side.Route()
	caddyhttp.SetVar(r.Context(), routeVar, side)
	caddyhttp.SetVar(r.Context(), serviceVar, side.Service)
	caddyhttp.SetVar(r.Context(), prefixVar, rt.Prefix)
	// The gateway decides X-Forwarded-Prefix: a client's never passes.
	r.Header.Del("X-Forwarded-Prefix")
	if side.Strip {
		cleaned = routing.StripPrefix(cleaned, rt.Prefix)
		r.Header.Set("X-Forwarded-Prefix", rt.Prefix)
	}
	// Forward exactly the path that was matched: cleaned, and decoded
	// (RawPath, the client's encoding of it, is dropped).
	r.URL.Path = cleaned
	r.URL.RawPath = ""
	if sr.NoMetrics || side.Meter == nil {
		return sr.dispatch(w, r, rt, side, next)
	}
	return sr.serveCounted(w, r, next, rt, side)
}

// pickWeighted returns the side of rt, a weighted route, that serves the
// request, nil if none can (every weight 0). With a side cookie, it keeps
// the side the client's cookie names while its weight is above 0, or else
// picks one and sets the cookie to it.
func (sr *SwarmRoute) pickWeighted(w http.ResponseWriter, r *http.Request, rt *routing.Route) *routing.Side {
	if sr.SideCookie == "" {
		return rt.Pick()
	}
	for _, c := range r.CookiesNamed(sr.SideCookie) {
		if s := rt.SideByKey(c.Value); s != nil && s.Weight > 0 {
			return s
		}
	}
	s := rt.Pick()
	if s != nil {
		http.SetCookie(w, &http.Cookie{Name: sr.SideCookie, Value: s.Key, Path: rt.Prefix, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	return s
}

// dispatch hands the prepared request to the route's policy, if it has
// one, or else to next.
func (sr *SwarmRoute) dispatch(w http.ResponseWriter, r *http.Request, rt *routing.Route, side *routing.Side, next caddyhttp.Handler) error {
	if side.Policy != "" {
		return sr.policies.serve(w, r, rt, side, next, sr.logger)
	}
	return next.ServeHTTP(w, r)
}

// upstreamPlaceholder is where reverse_proxy puts the address of the
// upstream it tries, for every try: after it returns, the one that
// answered.
const upstreamPlaceholder = "http.reverse_proxy.upstream.hostport"

// serveCounted passes the request on and counts it on its side: its
// status class and duration, and the replica that served it (the last one
// reverse_proxy tried).
func (sr *SwarmRoute) serveCounted(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *routing.Route, side *routing.Side) error {
	start := time.Now()
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	err := sr.dispatch(rec, r, rt, side, next)
	status := rec.Status()
	if err != nil {
		status = http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			status = he.StatusCode
		}
	} else if status == 0 {
		status = http.StatusOK
	}
	side.Meter.Observe(status, time.Since(start))
	if err != nil {
		return err
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return nil
	}
	if addr, ok := repl.GetString(upstreamPlaceholder); ok && !side.Meter.Served(addr) {
		// A retry may have gone to a replica that joined after the
		// side was chosen: it is in the current table's side.
		if cs := sr.watcher.Table().Current(side); cs != nil && cs.Meter != nil {
			cs.Meter.Served(addr)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmRoute)(nil)
	_ caddy.CleanerUpper          = (*SwarmRoute)(nil)
	_ caddyhttp.MiddlewareHandler = (*SwarmRoute)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmRoute)(nil)
)
