package caddymodule

// This file holds the `swarm_host` request matcher: requests for a host
// that a routed service claims.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(MatchSwarmHost{})
}

// MatchSwarmHost matches requests whose Host a routed swarm service claims
// at that moment with its `host` label (exactly, or through a wildcard
// `*.example.com` one label up), by the same rule that lets on-demand TLS
// obtain a certificate for it (`permission swarm`). The Host is compared
// case-insensitively, without its port and without a trailing dot; no
// other header is read.
//
// Before the gateway's first full listing of the swarm nothing is known,
// and a host it does not know of yet may be claimed: a request then waits
// for that listing, up to ready_timeout, as swarm_route's do, and is
// matched on it. If the listing does not come in time, matching fails
// with a 503 error (handled by the site's `handle_errors`, if any), so
// that a claimed host is never served by what follows, in clear text,
// because it was not known yet.
//
// Its use is the plain-HTTP site of an HTTPS gateway: redirect the hosts
// that have (or will get) a certificate, and serve the rest as before:
//
//	@claimed swarm_host
//	redir @claimed https://{host}{uri} 308
//
// It takes the discovery options of `dynamic swarm` (give it the same
// ones, or none, so that it shares their watcher).
//
// EXPERIMENTAL: Subject to change.
type MatchSwarmHost struct {
	Discovery

	// How long a request that arrives before the first full listing of
	// the swarm waits for it. Matching a request still waiting then
	// fails with a 503 error. Default: 5s
	ReadyTimeout caddy.Duration `json:"ready_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (MatchSwarmHost) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.swarm_host",
		New: func() caddy.Module { return new(MatchSwarmHost) },
	}
}

// Provision fills in defaults and attaches to the shared watcher. It does
// not wait for Docker.
func (m *MatchSwarmHost) Provision(ctx caddy.Context) error {
	if err := defaultReadyTimeoutOf(&m.ReadyTimeout); err != nil {
		return err
	}
	return m.Discovery.Provision(ctx)
}

// Match returns true if a routed service claims r's host, and also when
// that is not known in time (see MatchWithError): the caller of this form
// gets no error to answer with, and a redirect to HTTPS, the matcher's
// use, is the safe answer for a host that may be claimed.
func (m *MatchSwarmHost) Match(r *http.Request) bool {
	ok, err := m.MatchWithError(r)
	return ok || err != nil
}

// MatchWithError returns true if a routed service claims r's host. Before
// the first listing it waits for it (with several engines, a host the
// routes listed so far claim matches at once; another waits for the
// rest), up to ready_timeout, and fails with a 503 error if it does not come (or with
// the client's 499 if the client leaves first).
func (m *MatchSwarmHost) MatchWithError(r *http.Request) (bool, error) {
	if m.watcher.ServesPartial() && m.watcher.Table().HostClaimed(r.Host) {
		return true, nil
	}
	if err := awaitSync(r, m.watcher, time.Duration(m.ReadyTimeout)); err != nil {
		if errors.Is(err, errNotSynced) {
			return false, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("swarm_host: %w", err))
		}
		return false, caddyhttp.Error(statusClientClosedRequest, err)
	}
	return m.watcher.Table().HostClaimed(r.Host), nil
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchSwarmHost)(nil)
	_ caddy.CleanerUpper                = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcher          = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSwarmHost)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSwarmHost)(nil)
)
