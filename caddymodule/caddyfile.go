package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the upstream source from Caddyfile tokens:
//
//	dynamic swarm {
//	    docker_host       <address>
//	    tls_ca            <file>
//	    tls_cert          <file>
//	    tls_key           <file>
//	    label_prefix      <prefix>
//	    network           <name>
//	    lb                tasks|vip
//	    resync_interval   <duration>
//	    converge_interval <duration>
//	    poll_only
//	}
//
// Every subdirective is optional; `dynamic swarm` alone uses the defaults.
func (su *SwarmUpstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return su.Discovery.unmarshalCaddyfile(d)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. It takes
// the same subdirectives as `dynamic swarm`:
//
//	swarm_route {
//	    docker_host  <address>
//	    label_prefix <prefix>
//	    ...
//	}
func (sr *SwarmRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return sr.Discovery.unmarshalCaddyfile(d)
}

// unmarshalCaddyfile parses the discovery subdirectives of a block whose
// dispenser is positioned on (or before) the directive's name.
func (o *Discovery) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume the directive or source name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("swarm option '%s' has already been specified", opt)
		}
		seen[opt] = true

		if opt == "poll_only" {
			if d.NextArg() {
				return d.ArgErr()
			}
			o.PollOnly = true
			continue
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "docker_host":
			o.DockerHost = val
		case "tls_ca":
			o.TLSCA = val
		case "tls_cert":
			o.TLSCert = val
		case "tls_key":
			o.TLSKey = val
		case "label_prefix":
			o.LabelPrefix = val
		case "network":
			o.Network = val
		case "lb":
			lb, err := parseLBMode(val)
			if err != nil {
				return d.Errf("lb '%s': %v", val, err)
			}
			o.LB = lb
		case "resync_interval", "converge_interval":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("parsing %s '%s': %v", opt, val, err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive, got '%s'", opt, val)
			}
			if opt == "resync_interval" {
				o.ResyncInterval = caddy.Duration(dur)
			} else {
				o.ConvergeInterval = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized swarm option '%s'", opt)
		}
	}
	return nil
}
