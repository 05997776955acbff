package caddymodule

// This file holds the `swarm_host` request matcher: requests for a host
// that a routed service claims.

import (
	"net/http"

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
}

// CaddyModule returns the Caddy module information.
func (MatchSwarmHost) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.swarm_host",
		New: func() caddy.Module { return new(MatchSwarmHost) },
	}
}

// Match returns true if a routed service claims r's host.
func (m *MatchSwarmHost) Match(r *http.Request) bool {
	return m.watcher.Table().HostClaimed(r.Host)
}

// MatchWithError returns true if a routed service claims r's host. It
// never fails.
func (m *MatchSwarmHost) MatchWithError(r *http.Request) (bool, error) {
	return m.Match(r), nil
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchSwarmHost)(nil)
	_ caddy.CleanerUpper                = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcher          = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSwarmHost)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSwarmHost)(nil)
)
