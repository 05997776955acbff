package caddymodule

// This file parses the Caddyfile syntax of every module, and registers
// the handler directives.

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	for name, parse := range map[string]httpcaddyfile.UnmarshalHandlerFunc{
		"swarm_route":  parseSwarmRoute,
		"swarm_ready":  parseHandler[SwarmReady],
		"swarm_status": parseHandler[SwarmStatus],
	} {
		httpcaddyfile.RegisterHandlerDirective(name, parse)
		httpcaddyfile.RegisterDirectiveOrder(name, httpcaddyfile.Before, "reverse_proxy")
	}
}

// parseSwarmRoute sets up the swarm_route handler from Caddyfile tokens,
// and attaches the policies it offers to the server.
func parseSwarmRoute(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	sr := new(SwarmRoute)
	if err := sr.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	usePolicies(h, sr.Policies)
	return sr, nil
}

// parseHandler sets up a handler that has no more Caddyfile syntax than
// its UnmarshalCaddyfile from Caddyfile tokens.
func parseHandler[T any, PT interface {
	*T
	caddyhttp.MiddlewareHandler
	caddyfile.Unmarshaler
}](h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := PT(new(T))
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. It takes
// the same subdirectives as `dynamic swarm`, and its own ready_timeout
// and wake_timeout (which are not discovery options: they do not change
// the watcher):
//
//	swarm_route {
//	    docker_host   <address>
//	    label_prefix  <prefix>
//	    ...
//	    ready_timeout <duration>
//	    wake_timeout  <duration>
//	    policies      <name...>
//	    side_cookie   [<name>]
//	    no_metrics
//	}
//
// side_cookie alone names the cookie faas_side.
func (sr *SwarmRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return sr.Discovery.unmarshalCaddyfileWith(d, func(opt string) (bool, error) {
		switch opt {
		case "ready_timeout":
			return true, durationArg(d, &sr.ReadyTimeout)
		case "wake_timeout":
			return true, durationArg(d, &sr.WakeTimeout)
		case "policies":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return true, d.ArgErr()
			}
			sr.Policies = names
			return true, nil
		case "side_cookie":
			sr.SideCookie = defaultSideCookie
			if d.NextArg() {
				sr.SideCookie = d.Val()
			}
			return true, noArg(d)
		case "no_metrics":
			sr.NoMetrics = true
			return true, noArg(d)
		}
		return false, nil
	})
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens: the
// subdirectives of `dynamic swarm` and its own ready_timeout, given once
// per matcher set.
//
//	@claimed swarm_host {
//	    label_prefix  <prefix>
//	    ...
//	    ready_timeout <duration>
//	}
func (m *MatchSwarmHost) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := m.Discovery.unmarshalCaddyfileWith(d, func(opt string) (bool, error) {
		if opt == "ready_timeout" {
			return true, durationArg(d, &m.ReadyTimeout)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if d.Next() {
		return d.Errf("swarm_host given more than once in one matcher set")
	}
	return nil
}

// UnmarshalCaddyfile parses the discovery subdirectives of a block whose
// dispenser is positioned on (or before) the directive's name: the whole
// syntax of `dynamic swarm`, `swarm_ready`, `swarm_status` and
// `permission swarm`, and a part of the others'. It only parses: the
// values are checked, whatever their source, by validate.
//
//	dynamic swarm {
//	    docker_host       <address>
//	    tls_ca            <file>
//	    tls_cert          <file>
//	    tls_key           <file>
//	    label_prefix      <prefix>
//	    network           <name>
//	    lb                tasks|local|vip
//	    node_id           <swarm node ID>
//	    resync_interval   <duration>
//	    converge_interval <duration>
//	    api_timeout       <duration>
//	    poll_only
//	    containers        on|off
//	    scaling           on|off
//	    engine <name> <address> {
//	        tls_ca       <file>
//	        tls_cert     <file>
//	        tls_key      <file>
//	        reach        networks|published
//	        publish_host <host>
//	    }
//	}
//
// Every subdirective is optional; `dynamic swarm` alone uses the defaults.
// engine, given once per engine (its block is optional), replaces
// docker_host and tls_*: see docs/engines.md.
func (o *Discovery) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return o.unmarshalCaddyfileWith(d, nil)
}

// unmarshalCaddyfileWith is unmarshalCaddyfile for a module with
// subdirectives of its own: own (if not nil) parses those, and reports
// whether it knew the subdirective.
func (o *Discovery) unmarshalCaddyfileWith(d *caddyfile.Dispenser, own func(opt string) (bool, error)) error {
	d.Next() // consume the directive or source name
	if d.NextArg() {
		return d.ArgErr()
	}
	tls := [3]*string{&o.TLSCA, &o.TLSCert, &o.TLSKey}
	return eachOption(d, 0, "swarm option", tls, func(opt string) bool { return opt == "engine" }, func(opt string) error {
		var err error
		switch opt {
		case "docker_host":
			err = oneArg(d, &o.DockerHost)
		case "label_prefix":
			err = oneArg(d, &o.LabelPrefix)
		case "network":
			err = oneArg(d, &o.Network)
		case "lb":
			err = oneArg(d, &o.LB)
		case "node_id":
			err = oneArg(d, &o.NodeID)
		case "resync_interval":
			err = durationArg(d, &o.ResyncInterval)
		case "converge_interval":
			err = durationArg(d, &o.ConvergeInterval)
		case "api_timeout":
			err = durationArg(d, &o.APITimeout)
		case "poll_only":
			o.PollOnly = true
			err = noArg(d)
		case "containers":
			err = oneArg(d, &o.Containers)
		case "scaling":
			err = oneArg(d, &o.Scaling)
		case "engine":
			err = o.unmarshalEngine(d)
		case "peers":
			err = o.unmarshalPeers(d)
		default:
			known := false
			if own != nil {
				known, err = own(opt)
			}
			if !known {
				return d.Errf("unrecognized swarm option '%s'", opt)
			}
		}
		return err
	})
}

// unmarshalEngine parses an engine subdirective: its name, its address
// and its optional block.
func (o *Discovery) unmarshalEngine(d *caddyfile.Dispenser) error {
	var e EngineConfig
	if !d.Args(&e.Name, &e.DockerHost) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	tls := [3]*string{&e.TLSCA, &e.TLSCert, &e.TLSKey}
	err := eachOption(d, d.Nesting(), "engine "+e.Name+": option", tls, nil, func(opt string) error {
		var err error
		switch opt {
		case "reach":
			err = oneArg(d, &e.Reach)
		case "publish_host":
			err = oneArg(d, &e.PublishHost)
		default:
			return d.Errf("engine %s: unrecognized option '%s'", e.Name, opt)
		}
		return err
	})
	if err != nil {
		return err
	}
	o.Engines = append(o.Engines, e)
	return nil
}

// eachOption parses the block of subdirectives at nesting: the TLS files
// of a connection (tls_ca, tls_cert, tls_key) into tls, every other one
// with parse. A subdirective given twice is an error naming it as
// `<what> '<name>'`, but for those repeatable (if not nil) allows.
func eachOption(d *caddyfile.Dispenser, nesting int, what string, tls [3]*string, repeatable func(string) bool, parse func(opt string) error) error {
	seen := make(map[string]bool)
	for d.NextBlock(nesting) {
		opt := d.Val()
		if seen[opt] && (repeatable == nil || !repeatable(opt)) {
			return d.Errf("%s '%s' has already been specified", what, opt)
		}
		seen[opt] = true
		var err error
		if dst, ok := map[string]*string{"tls_ca": tls[0], "tls_cert": tls[1], "tls_key": tls[2]}[opt]; ok {
			err = oneArg(d, dst)
		} else {
			err = parse(opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// oneArg reads the single argument of the current subdirective into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// noArg checks that the current subdirective, a flag, has no argument.
func noArg(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// durationArg reads the single duration argument of the current
// subdirective into dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var val string
	if err := oneArg(d, &val); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(val)
	if err != nil {
		return d.Errf("parsing duration '%s': %v", val, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}
