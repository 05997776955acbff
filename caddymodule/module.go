// Package caddymodule is a Caddy module that routes HTTP requests to Docker
// Swarm services by path prefix, discovering the services and their
// running replicas from service labels through the Docker Engine API.
package caddymodule

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(SwarmUpstreams{})
}

// SwarmUpstreams provides upstreams from Docker Swarm services that opt in
// with the `faas.enable=true` label. A request goes to the service whose
// `faas.path` prefix is the longest one covering the request path (or the
// one the `swarm_route` handler chose for it), and its upstreams are the
// addresses of that service's running tasks.
//
// Discovery runs in the background, in one watcher per process shared by
// every module with the same options and kept across config reloads: it
// follows the Docker event stream, re-lists while a service converges and
// resyncs periodically. GetUpstreams only reads the latest route table, so
// it never waits on Docker, and when Docker is unreachable the last known
// routes keep being served.
//
// EXPERIMENTAL: Subject to change.
type SwarmUpstreams struct {
	Discovery

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SwarmUpstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.swarm",
		New: func() caddy.Module { return new(SwarmUpstreams) },
	}
}

// Provision fills in defaults and attaches to the shared watcher. It does
// not wait for Docker.
func (su *SwarmUpstreams) Provision(ctx caddy.Context) error {
	su.logger = ctx.Logger()
	return su.attach(ctx)
}

// Cleanup releases the shared watcher; the last user stops it.
func (su *SwarmUpstreams) Cleanup() error { return su.detach() }

// GetUpstreams returns the running replicas of the service that claims the
// request's path. It reads a snapshot and allocates only the returned
// upstreams, which the reverse proxy mutates and so must be new.
func (su *SwarmUpstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	rt := routeFromRequest(r)
	if rt == nil {
		rt = su.watcher.table().match(matchKey(cleanPath(r.URL.Path)))
		if rt == nil {
			return nil, nil
		}
	}
	return newUpstreams(rt.Upstreams), nil
}

// ResetCache is called by the reverse proxy before it retries a failed
// request. The table is never stale by more than a resync, so nothing is
// cleared; instead the watcher is asked to re-list now, since a failure
// often means a replica has just gone.
func (su *SwarmUpstreams) ResetCache(*http.Request) error {
	su.watcher.kick()
	return nil
}

// newUpstreams makes fresh upstreams for the dial addresses, in one block.
func newUpstreams(addrs []string) []*reverseproxy.Upstream {
	block := make([]reverseproxy.Upstream, len(addrs))
	ups := make([]*reverseproxy.Upstream, len(addrs))
	for i, a := range addrs {
		block[i].Dial = a
		ups[i] = &block[i]
	}
	return ups
}

// routeFromRequest returns the route the swarm_route handler chose for r.
func routeFromRequest(r *http.Request) *route {
	rt, _ := caddyhttp.GetVar(r.Context(), routeVar).(*route)
	return rt
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*SwarmUpstreams)(nil)
	_ caddy.CleanerUpper                 = (*SwarmUpstreams)(nil)
	_ reverseproxy.UpstreamSource        = (*SwarmUpstreams)(nil)
	_ reverseproxy.CachingUpstreamSource = (*SwarmUpstreams)(nil)
	_ caddyfile.Unmarshaler              = (*SwarmUpstreams)(nil)
)
