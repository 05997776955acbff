package caddymodule

// This file holds the `swarm_status` handler: a live status page of the
// gateway's routes and replicas.

import (
	_ "embed"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(SwarmStatus{})
	httpcaddyfile.RegisterHandlerDirective("swarm_status", parseSwarmStatus)
	httpcaddyfile.RegisterDirectiveOrder("swarm_status", httpcaddyfile.Before, "reverse_proxy")
}

// statusPage is the page: one self-contained HTML file, with its CSS and
// script inline and no external asset.
//
//go:embed status.html
var statusPage []byte

// SwarmStatus serves a status page of the gateway: every route with its
// replicas and the share of the route's requests each served (a bar per
// replica), the services not routed and why, the state of the Docker API
// and the time of the last change. The page polls `?json` on its own URL
// every second, which answers `{"routes": ..., "status": ...}`: the
// answers of the admin API's /swarm/routes and /swarm/status.
//
// It shows service names, task addresses and error messages: mount it
// where only operators reach it, such as a site bound to localhost, or
// behind authentication (`basic_auth`). It takes the same discovery
// options as `swarm_route`, whose watcher it reads (give both the same
// options, or none), and never calls the next handler.
//
// EXPERIMENTAL: Subject to change.
type SwarmStatus struct {
	Discovery
}

// CaddyModule returns the Caddy module information.
func (SwarmStatus) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.swarm_status",
		New: func() caddy.Module { return new(SwarmStatus) },
	}
}

// Provision fills in defaults and attaches to the shared watcher.
func (ss *SwarmStatus) Provision(caddy.Context) error { return ss.attach() }

// Cleanup releases the shared watcher; the last user stops it.
func (ss *SwarmStatus) Cleanup() error { return ss.detach() }

// statusAnswer is the JSON the page polls.
type statusAnswer struct {
	Routes routesView `json:"routes"`
	Status statusView `json:"status"`
}

// ServeHTTP serves the page, or with `?json` its data.
func (ss *SwarmStatus) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return writeText(w, http.StatusMethodNotAllowed, "405 method not allowed\n")
	}
	if r.URL.Query().Has("json") {
		return writeJSON(w, statusAnswer{Routes: ss.watcher.routesView(), Status: ss.watcher.statusView()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, err := w.Write(statusPage)
	return err
}

// UnmarshalCaddyfile sets up the status page from Caddyfile tokens. It
// takes the same discovery subdirectives as `swarm_route`:
//
//	swarm_status {
//	    docker_host  <address>
//	    ...
//	}
func (ss *SwarmStatus) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return ss.Discovery.unmarshalCaddyfile(d)
}

func parseSwarmStatus(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ss := new(SwarmStatus)
	err := ss.UnmarshalCaddyfile(h.Dispenser)
	return ss, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmStatus)(nil)
	_ caddy.CleanerUpper          = (*SwarmStatus)(nil)
	_ caddyhttp.MiddlewareHandler = (*SwarmStatus)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmStatus)(nil)
)
