package caddymodule

// This file holds the `swarm_ready` readiness handler, and what it shares
// with `swarm_route`: waiting for the first listing, and telling that the
// server is shutting down.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
)

func init() {
	caddy.RegisterModule(SwarmReady{})
}

// SwarmReady answers readiness probes, for whatever balances requests
// across gateways (a cloud load balancer's health check, a DNS health
// check, keepalived, Caddy's active health checks): 200 once the
// gateway's first full listing of the swarm is published, 503 before
// that and as soon as the server is shutting down.
//
// With the `shutdown_delay` global option, Caddy keeps serving for that
// long after it is told to stop (SIGTERM, or a reload that closes this
// listener): this handler then answers 503 at once, so the balancer stops
// sending new requests while the ones it sent are still served, and
// `swarm_route` closes each connection after its response. Set
// shutdown_delay to at least the balancer's time to mark a backend down
// (its check interval times its failure count).
//
// It takes the same discovery options as `swarm_route`, whose watcher it
// reads (give both the same options, or none). It never calls the next
// handler: mount it on a path of its own, `handle /ready { swarm_ready }`,
// or on a site of its own.
//
// EXPERIMENTAL: Subject to change.
type SwarmReady struct {
	Discovery
}

// CaddyModule returns the Caddy module information.
func (SwarmReady) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.swarm_ready",
		New: func() caddy.Module { return new(SwarmReady) },
	}
}

// ServeHTTP answers whether the gateway is ready.
func (sr *SwarmReady) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case shuttingDown(r):
		w.Header().Set("Connection", "close")
		return writeUnavailable(w, "503 not ready: shutting down\n")
	case !sr.watcher.Synced():
		return writeUnavailable(w, "503 not ready: the swarm has not been listed yet\n")
	}
	return writeText(w, http.StatusOK, "200 ready\n")
}

// defaultReadyTimeout is the default of ready_timeout.
const defaultReadyTimeout = 5 * time.Second

// defaultReadyTimeoutOf sets a module's ready_timeout to its default if
// it is unset, and checks it.
func defaultReadyTimeoutOf(d *caddy.Duration) error {
	return defaultDurationOf("ready_timeout", d, defaultReadyTimeout)
}

// defaultDurationOf sets the duration option name to def if it is unset
// (0), and refuses a negative one.
func defaultDurationOf(name string, d *caddy.Duration, def time.Duration) error {
	if *d == 0 {
		*d = caddy.Duration(def)
	}
	if *d < 0 {
		return fmt.Errorf("%s must be positive, got %v", name, time.Duration(*d))
	}
	return nil
}

// errNotSynced says that the first listing did not come in time.
var errNotSynced = errors.New("the swarm has not been listed yet")

// awaitSync returns once the watcher's first full listing is published
// (at once, after that), or errNotSynced after timeout, or the request's
// error if it is canceled first.
func awaitSync(r *http.Request, w *discovery.Watcher, timeout time.Duration) error {
	if w.Synced() {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.Ready():
		return nil
	case <-t.C:
		return errNotSynced
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// shuttingDown reports whether the server serving r is shutting down:
// Caddy's `{http.shutting_down}`, true from the start of shutdown_delay.
func shuttingDown(r *http.Request) bool {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return false
	}
	if _, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); !ok {
		return false // the placeholder needs the server, which is absent outside Caddy
	}
	v, _ := repl.Get("http.shutting_down")
	down, _ := v.(bool)
	return down
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmReady)(nil)
	_ caddy.CleanerUpper          = (*SwarmReady)(nil)
	_ caddyhttp.MiddlewareHandler = (*SwarmReady)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmReady)(nil)
)
