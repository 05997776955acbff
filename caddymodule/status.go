package caddymodule

// This file holds the `swarm_status` handler: a live status page of the
// gateway's routes and replicas.

import (
	_ "embed"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(SwarmStatus{})
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
// behind authentication (`basic_auth`). It takes the discovery options,
// and describes the same watcher as the routes API and the metrics: that
// of the first discovery configuration (give every module the same
// options, or none, and there is one). It never calls the next handler.
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
		dw, da := ss.watcher, ss.scaler
		if sh := described(); sh != nil { // what the routes API and the metrics describe
			dw, da = sh.watcher, sh.scaler
		}
		return writeJSON(w, statusAnswer{Routes: routesOf(dw, da), Status: statusOf(dw)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, err := w.Write(statusPage)
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmStatus)(nil)
	_ caddy.CleanerUpper          = (*SwarmStatus)(nil)
	_ caddyhttp.MiddlewareHandler = (*SwarmStatus)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmStatus)(nil)
)
