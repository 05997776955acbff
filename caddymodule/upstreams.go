package caddymodule

// This file holds the `swarm` upstream source of reverse_proxy.

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

func init() {
	caddy.RegisterModule(SwarmUpstreams{})
}

// SwarmUpstreams provides upstreams from Docker Swarm services that opt in
// with the `faas.enable=true` label. A request goes to the service whose
// `faas.path` prefix is the longest one covering the request path (or the
// one the `swarm_route` handler chose for it), and its upstreams are the
// addresses of that service's running tasks (with `lb local`, those on
// the gateway's own node while one runs there).
//
// A route whose service chose a policy by label (`faas.policy`) is served
// only through swarm_route, which runs the policy: without a swarm_route
// before it, this source gives such a route no replicas (so it answers
// 503, after lb_try_duration) and logs one warning, rather than serve it
// without its policy.
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
	warned *warnedUses
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
	su.logger, su.warned = ctx.Logger(), new(warnedUses)
	if err := su.Discovery.Provision(ctx); err != nil {
		return err
	}
	registerMetrics(ctx, &su.Discovery)
	return nil
}

// GetUpstreams returns the running replicas of the service that claims the
// request: the route swarm_route chose for it, as the current table has it
// (so every retry sees the replicas running now), or else the route that
// claims the request's path. It reads a snapshot and allocates only the
// returned upstreams, which the reverse proxy mutates and so must be new.
func (su *SwarmUpstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	side := su.currentSide(r)
	if side == nil {
		return nil, nil
	}
	return newUpstreams(side.Targets()), nil
}

// ResetCache is called by the reverse proxy before it retries a failed
// request. The table is never stale by more than a resync, so nothing is
// cleared; instead the watcher is asked to re-list the service's tasks,
// since a failure often means a replica has just gone.
func (su *SwarmUpstreams) ResetCache(r *http.Request) error {
	if side := su.currentSide(r); side != nil {
		su.watcher.Kick(discovery.ServiceKey(side.Engine, side.Service))
	}
	return nil
}

// currentSide returns the current side of the request's service: the
// side swarm_route chose, looked up again in the current table (nil if
// another service has taken its prefix since), or the side of the route
// matching the request's path when no swarm_route ran, unless that side
// has a policy, which only swarm_route runs.
func (su *SwarmUpstreams) currentSide(r *http.Request) *routing.Side {
	t := su.watcher.Table()
	chosen := sideFromRequest(r)
	if chosen == nil {
		rt := t.Match(r.Host, routing.MatchKey(routing.CleanPath(r.URL.Path)))
		if rt == nil {
			return nil
		}
		side := rt.Pick()
		if side == nil {
			return nil // a weighted route whose every weight is 0
		}
		if side.Policy != "" {
			su.refusePolicy(rt, side)
			return nil
		}
		return side
	}
	return t.Current(chosen)
}

// refusePolicy logs, the first time only, that side's route is not
// served: its policy runs only under swarm_route, and none chose the side.
func (su *SwarmUpstreams) refusePolicy(rt *routing.Route, side *routing.Side) {
	if su.warned.first(side) {
		su.logger.Warn("route not routed: its policy is not run, since policies run only under swarm_route (put swarm_route before this reverse_proxy)",
			discovery.LogFields(rt, side)...)
	}
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

// sideFromRequest returns the side the swarm_route handler chose for r.
func sideFromRequest(r *http.Request) *routing.Side {
	s, _ := caddyhttp.GetVar(r.Context(), routeVar).(*routing.Side)
	return s
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*SwarmUpstreams)(nil)
	_ caddy.CleanerUpper                 = (*SwarmUpstreams)(nil)
	_ reverseproxy.UpstreamSource        = (*SwarmUpstreams)(nil)
	_ reverseproxy.CachingUpstreamSource = (*SwarmUpstreams)(nil)
	_ caddyfile.Unmarshaler              = (*SwarmUpstreams)(nil)
)
