package caddymodule

// This file holds the routes API: the `admin.api.swarm` module, which
// serves the route table and the state of discovery on Caddy's admin
// endpoint.

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminSwarm{})
}

// AdminSwarm serves the gateway's view of the swarm on the admin endpoint:
//
//   - GET /swarm/routes: the route table (host, prefix, service, strip, and
//     the replicas with their task, node, address and requests served),
//     and the opted-in services or routes that are not routed, with the
//     reason;
//   - GET /swarm/status: whether the first listing of the swarm is done,
//     when the last listing succeeded and last changed the routes, and the
//     state of the Docker API.
//
// Caddy loads it with the admin endpoint; it has no configuration. It
// answers for the watcher of the first discovery configuration (all
// modules share one unless their discovery options differ), as the metrics
// and the status page do.
//
// EXPERIMENTAL: Subject to change.
type AdminSwarm struct{}

// CaddyModule returns the Caddy module information.
func (AdminSwarm) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.swarm",
		New: func() caddy.Module { return new(AdminSwarm) },
	}
}

// Routes returns the routes of /swarm/routes and /swarm/status.
func (a AdminSwarm) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/swarm/routes", Handler: adminGet(func(sh *shared) any { return routesOf(sh.watcher, sh.scaler) })},
		{Pattern: "/swarm/status", Handler: adminGet(func(sh *shared) any { return statusOf(sh.watcher) })},
	}
}

// adminGet answers a GET with view's JSON of the described watcher.
func adminGet(view func(*shared) any) caddy.AdminHandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed")}
		}
		w := described()
		if w == nil {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no swarm module is configured")}
		}
		return writeJSON(rw, view(w))
	}
}

// Interface guards
var _ caddy.AdminRouter = AdminSwarm{}
