package caddymodule

// This file holds the routes API: the `admin.api.swarm` module, which
// serves the route table and the state of discovery on Caddy's admin
// endpoint.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

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
// modules share one unless their discovery options differ).
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
		{Pattern: "/swarm/routes", Handler: adminGet(func(w *watcher) any { return w.routesView() })},
		{Pattern: "/swarm/status", Handler: adminGet(func(w *watcher) any { return w.statusView() })},
	}
}

// adminGet answers a GET with view's JSON for the first watcher.
func adminGet(view func(*watcher) any) caddy.AdminHandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed")}
		}
		w := firstWatcher()
		if w == nil {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no swarm module is configured")}
		}
		return writeJSON(rw, view(w))
	}
}

// writeJSON writes v as a JSON answer.
func writeJSON(rw http.ResponseWriter, v any) error {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(rw).Encode(v); err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	return nil
}

// firstWatcher returns the watcher of the first discovery configuration
// (by key), or nil when none runs.
func firstWatcher() *watcher {
	var keys []string
	byKey := make(map[string]*watcher)
	watchers.Range(func(k, v any) bool {
		if w, ok := v.(*watcher); ok {
			keys = append(keys, k.(string))
			byKey[k.(string)] = w
		}
		return true
	})
	if len(keys) == 0 {
		return nil
	}
	return byKey[slices.Min(keys)]
}

// Interface guards
var _ caddy.AdminRouter = AdminSwarm{}
