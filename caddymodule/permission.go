package caddymodule

// This file holds the `swarm` permission module of on-demand TLS: a
// certificate only for a host name that a routed service claims.

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

func init() {
	caddy.RegisterModule(SwarmPermission{})
}

// SwarmPermission lets on-demand TLS obtain (or load from storage) a
// certificate only for a host name that a routed swarm service claims at
// that moment with its `host` label: exactly, or through a wildcard
// `*.example.com` one label up. A service that claims a new host gets its
// certificate on the host's first TLS handshake, with no reload and no
// Caddyfile edit; a name no service claims is refused before any
// certificate authority is asked, so nobody can make the gateway request
// certificates for names of their choosing. A host that stops being
// claimed gets no new certificate (one already in memory is served until
// it is due for renewal, which is then refused).
//
// Names are compared as requests' hosts are: case-insensitively, without
// a trailing dot. Before the first listing of swarm services nothing is
// claimed, so handshakes in the first moments after a start may be
// refused.
//
// In the Caddyfile, in the global options:
//
//	on_demand_tls {
//	    permission swarm
//	}
//
// and `tls { on_demand }` in the HTTPS site. It takes the discovery
// options of `dynamic swarm` (give it the same ones, or none, so that it
// shares their watcher).
//
// EXPERIMENTAL: Subject to change.
type SwarmPermission struct {
	Discovery

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SwarmPermission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.permission.swarm",
		New: func() caddy.Module { return new(SwarmPermission) },
	}
}

// Provision fills in defaults and attaches to the shared watcher. It does
// not wait for Docker.
func (sp *SwarmPermission) Provision(ctx caddy.Context) error {
	sp.logger = ctx.Logger()
	return sp.Discovery.Provision(ctx)
}

// CertificateAllowed returns nil if a routed service claims name, and an
// error wrapping caddytls.ErrPermissionDenied otherwise. It reads the
// current route table and never waits.
func (sp *SwarmPermission) CertificateAllowed(_ context.Context, name string) error {
	var why string
	switch {
	case strings.Contains(name, "*"):
		// A client may send `*.example.com` as its server name. A wildcard
		// certificate needs a DNS challenge, which on-demand TLS here cannot
		// answer: asking a CA for one would only make a failing order.
		why = "a wildcard certificate is not obtained on demand (each name under a claimed wildcard gets its own)"
	case !routing.PlainHostName(name):
		why = "not a plain host name (dot-separated letters, digits and hyphens: no port, no IP literal)"
	case sp.watcher.Table().HostClaimed(name):
		return nil
	default:
		why = "no routed swarm service claims this host"
	}
	if c := sp.logger.Check(zapcore.DebugLevel, "certificate refused"); c != nil {
		c.Write(zap.String("server_name", name), zap.String("reason", why))
	}
	return fmt.Errorf("%q: %w: %s", name, caddytls.ErrPermissionDenied, why)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SwarmPermission)(nil)
	_ caddy.CleanerUpper          = (*SwarmPermission)(nil)
	_ caddytls.OnDemandPermission = (*SwarmPermission)(nil)
	_ caddyfile.Unmarshaler       = (*SwarmPermission)(nil)
)
