// Package caddymodule is a Caddy module that routes HTTP requests to Docker
// Swarm services by path prefix, discovering the services and their
// running replicas from service labels through the Docker Engine API.
//
// Files: upstreams.go, handler.go, ready.go, matcher.go and permission.go
// are the Caddy modules (`dynamic swarm`, `swarm_route`, `swarm_ready`,
// `swarm_host`, `permission swarm`), options.go and caddyfile.go their
// options and Caddyfile syntax; labels.go and hosts.go read a service's
// labels, build.go and networks.go build the route table that table.go
// holds and matches requests against; docker.go makes every Docker API
// call, for watcher.go (with stream.go, kicks.go, changes.go), which keeps
// the table current and is shared through shared.go.
package caddymodule

// This file holds the `swarm` upstream source of reverse_proxy.

import (
	"net/http"

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
	if err := su.attach(); err != nil {
		return err
	}
	su.watcher.registerMetrics(ctx)
	return nil
}

// Cleanup releases the shared watcher; the last user stops it.
func (su *SwarmUpstreams) Cleanup() error { return su.detach() }

// GetUpstreams returns the running replicas of the service that claims the
// request: the route swarm_route chose for it, as the current table has it
// (so every retry sees the replicas running now), or else the route that
// claims the request's path. It reads a snapshot and allocates only the
// returned upstreams, which the reverse proxy mutates and so must be new.
func (su *SwarmUpstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	rt := su.currentRoute(r)
	if rt == nil {
		return nil, nil
	}
	return newUpstreams(rt.Upstreams), nil
}

// ResetCache is called by the reverse proxy before it retries a failed
// request. The table is never stale by more than a resync, so nothing is
// cleared; instead the watcher is asked to re-list the service's tasks,
// since a failure often means a replica has just gone.
func (su *SwarmUpstreams) ResetCache(r *http.Request) error {
	if rt := su.currentRoute(r); rt != nil {
		su.watcher.kick(rt.Service)
	}
	return nil
}

// currentRoute returns the current route of the request's service: the
// route swarm_route chose, looked up again in the current table (nil if
// another service has taken its prefix since), or the route matching the
// request's path when no swarm_route ran.
func (su *SwarmUpstreams) currentRoute(r *http.Request) *route {
	t := su.watcher.table()
	chosen := routeFromRequest(r)
	if chosen == nil {
		return t.match(r.Host, matchKey(cleanPath(r.URL.Path)))
	}
	if rt := t.lookup(chosen.Host, chosen.Prefix); rt != nil && rt.Service == chosen.Service {
		return rt
	}
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
