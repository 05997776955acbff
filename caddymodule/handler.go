package caddymodule

// This file holds the `swarm_route` HTTP handler.

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(SwarmRoute{})
	httpcaddyfile.RegisterHandlerDirective("swarm_route", parseSwarmRoute)
	httpcaddyfile.RegisterDirectiveOrder("swarm_route", httpcaddyfile.Before, "reverse_proxy")
}

// Request variables set by SwarmRoute, readable as placeholders such as
// `{http.vars.swarm_service}`.
const (
	routeVar   = "swarm_route"   // the chosen *route, read by SwarmUpstreams
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
//
// Put it before `reverse_proxy { dynamic swarm }`, with the same discovery
// options (or none, for the defaults) so that both share one watcher.
//
// EXPERIMENTAL: Subject to change.
type SwarmRoute struct {
	Discovery
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
func (sr *SwarmRoute) Provision(caddy.Context) error { return sr.attach() }

// Cleanup releases the shared watcher; the last user stops it.
func (sr *SwarmRoute) Cleanup() error { return sr.detach() }

// ServeHTTP routes the request to the service that claims its path.
func (sr *SwarmRoute) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	cleaned := cleanPath(r.URL.Path)
	rt := sr.watcher.table().match(r.Host, matchKey(cleaned))
	if rt == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		_, err := fmt.Fprintf(w, "404 not found: no service claims the path %q\n", cleaned)
		return err
	}

	caddyhttp.SetVar(r.Context(), routeVar, rt)
	caddyhttp.SetVar(r.Context(), serviceVar, rt.Service)
	caddyhttp.SetVar(r.Context(), prefixVar, rt.Prefix)
	// The gateway decides X-Forwarded-Prefix: a client's never passes.
	r.Header.Del("X-Forwarded-Prefix")
	if rt.Strip {
		cleaned = stripPrefix(cleaned, rt.Prefix)
		r.Header.Set("X-Forwarded-Prefix", rt.Prefix)
	}
	// Forward exactly the path that was matched: cleaned, and decoded
	// (RawPath, the client's encoding of it, is dropped).
	r.URL.Path = cleaned
	r.URL.RawPath = ""
	return next.ServeHTTP(w, r)
}

// parseSwarmRoute sets up the handler from Caddyfile tokens.
func parseSwarmRoute(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	sr := new(SwarmRoute)
	err := sr.UnmarshalCaddyfile(h.Dispenser)
	return sr, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmRoute)(nil)
	_ caddy.CleanerUpper          = (*SwarmRoute)(nil)
	_ caddyhttp.MiddlewareHandler = (*SwarmRoute)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmRoute)(nil)
)
