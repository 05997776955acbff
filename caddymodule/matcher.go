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
// ones, or none, so that it shares their watcher):
//
//	@claimed swarm_host {
//	    label_prefix <prefix>
//	    ...
//	}
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

// Provision fills in defaults and attaches to the shared watcher. It does
// not wait for Docker.
func (m *MatchSwarmHost) Provision(caddy.Context) error { return m.attach() }

// Cleanup releases the shared watcher; the last user stops it.
func (m *MatchSwarmHost) Cleanup() error { return m.detach() }

// Match returns true if a routed service claims r's host.
func (m *MatchSwarmHost) Match(r *http.Request) bool {
	return m.watcher.table().hostClaimed(r.Host)
}

// MatchWithError returns true if a routed service claims r's host. It
// never fails.
func (m *MatchSwarmHost) MatchWithError(r *http.Request) (bool, error) {
	return m.Match(r), nil
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens: the
// subdirectives of `dynamic swarm`, given once per matcher set.
func (m *MatchSwarmHost) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if err := m.Discovery.unmarshalCaddyfile(d); err != nil {
		return err
	}
	if d.Next() {
		return d.Errf("swarm_host given more than once in one matcher set")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchSwarmHost)(nil)
	_ caddy.CleanerUpper                = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcher          = (*MatchSwarmHost)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSwarmHost)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSwarmHost)(nil)
)
