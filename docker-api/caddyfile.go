// Caddyfile: the docker_api_filter directive, ordered before reverse_proxy.

package dockerapi

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("docker_api_filter", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("docker_api_filter", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	f := new(Filter)
	err := f.UnmarshalCaddyfile(h.Dispenser)
	return f, err
}

// UnmarshalCaddyfile sets up the filter from Caddyfile tokens:
//
//	docker_api_filter {
//	    label_prefix <prefix>
//	}
func (f *Filter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "label_prefix":
			if f.LabelPrefix != "" {
				return d.Err("label_prefix has already been specified")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			f.LabelPrefix = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized docker_api_filter option '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Filter)(nil)
