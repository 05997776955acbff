// Package labels reads the labels of a service or container into the
// routes it asks for: the one place where a label's name, default and
// syntax are defined. It knows no Docker type: sources hand it a map of
// labels and the name to route by.
//
// Files: labels.go (the labels, and a service's routes from them),
// hosts.go (the host names of a host label), scaling.go (the bounds,
// idle time and target of a service's replica count).
package labels

// This file reads a service's labels into the routing it asks for.

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// Label names, relative to the label prefix (default "faas").
const (
	Enable      = "enable"
	Path        = "path"
	Port        = "port"
	StripPrefix = "strip_prefix"
	Network     = "network"
	LB          = "lb"
	Host        = "host"
	Routes      = "routes"
	Policy      = "policy"
	Weight      = "weight"
)

// routeFields are the labels a named route may set, under
// `<prefix>.routes.<name>.`; the others are the service's.
var routeFields = []string{Host, Path, Port, StripPrefix, Policy, Weight}

// StackNamespace is set by `docker stack deploy` on every service it creates.
const StackNamespace = "com.docker.stack.namespace"

// Load-balancing modes: route to each running task, to the running tasks
// on the gateway's own node while one runs there (and to all of them
// otherwise), or to the service's virtual IP.
const (
	LBTasks = "tasks"
	LBLocal = "local"
	LBVIP   = "vip"
)

// DefaultPort is the port a service's replicas are assumed to listen on
// when it sets no port label.
const DefaultPort = 80

// Limits on a path prefix. Every request's lookup costs one map lookup per
// segment of the deepest prefix in the table, so one service must not be
// able to make every request slower with an absurdly deep prefix.
const (
	maxPrefixSegments = 16
	maxPrefixLen      = 256
)

// Config is what a service's labels say about how to route to it.
type Config struct {
	Enabled bool
	Network string // empty: choose automatically
	LB      string // LBTasks, LBLocal or LBVIP
	// Routes are the routes the labels declare, sorted by name: the
	// service-level route alone, or the named routes.
	Routes []RouteConfig
	// Disabled are the named routes a malformed label disables, with why.
	Disabled []RouteProblem
	// Warnings are the routes routed in spite of a malformed label, with
	// why: a bad weight label leaves its route (Route "" for the service
	// level, whose weight is the named routes' default) unweighted.
	Warnings []RouteProblem
}

// RouteConfig is one route a service declares.
type RouteConfig struct {
	Name   string   // "" for the service-level route
	Hosts  []string // normalised host names or wildcards; none: any host
	Prefix string   // cleaned, starts with "/", no trailing slash unless it is "/"
	Port   uint16
	Strip  bool
	// Policy names the Caddy named route (`&(name)`) that handles the
	// route's requests, "" for what follows swarm_route.
	Policy string
	// Weighted says the route has a weight label: it shares its claim
	// with the other weighted claims on the same host and prefix, in
	// proportion to Weight (0 to routing.MaxWeight; 0 takes it out).
	Weighted bool
	Weight   uint32
}

// RouteProblem is a named route disabled by its labels.
type RouteProblem struct {
	Route string
	Err   error
}

// Parse reads the routing labels of one service. name is the service
// name, used for the default prefix; defaultLB is the module's lb option.
// A service without the enable label (or with it false) is returned with
// Enabled false and no error. A malformed service-level label returns an
// error that names it, so that the service can be disabled with a clear
// message; a malformed label of a named route disables that route only.
func Parse(labels map[string]string, prefix, name, defaultLB string) (Config, error) {
	l := labelReader{labels: labels, prefix: prefix + "."}
	cfg := Config{LB: defaultLB}

	on, err := l.boolean(Enable, false)
	if err != nil || !on {
		return cfg, err
	}
	cfg.Enabled = true
	if ns := labels[StackNamespace]; ns != "" {
		name = strings.TrimPrefix(name, ns+"_")
	}

	// The service-level labels: its one route, or the defaults of its
	// named routes.
	base, pathSet, err := l.route("", RouteConfig{Prefix: "/" + name, Port: DefaultPort, Strip: true}, false)
	if err != nil {
		return cfg, err
	}
	base = l.weight("", base, &cfg)
	if v, ok := l.get(Network); ok {
		cfg.Network = strings.TrimSpace(v)
		if cfg.Network == "" {
			return cfg, fmt.Errorf("label %s is empty: want a network name", l.prefix+Network)
		}
	}
	if v, ok := l.get(LB); ok {
		if cfg.LB, err = ParseLBMode(v); err != nil {
			return cfg, fmt.Errorf("label %s=%q: %w", l.prefix+LB, v, err)
		}
	}

	names := l.routeNames()
	if len(names) == 0 {
		cfg.Routes = []RouteConfig{base}
		return cfg, nil
	}
	for _, rn := range names {
		r, _, err := l.route(Routes+"."+rn+".", base, pathSet)
		if err == nil && !ValidName(rn) {
			err = fmt.Errorf("route name %q: want lower-case letters, digits, - and _", rn)
		}
		if err == nil {
			err = l.unknownFields(rn)
		}
		if err != nil {
			cfg.Disabled = append(cfg.Disabled, RouteProblem{Route: rn, Err: err})
			continue
		}
		r.Name = rn
		cfg.Routes = append(cfg.Routes, l.weight(Routes+"."+rn+".", r, &cfg))
	}
	return cfg, nil
}

// labelReader reads the labels under one prefix ("faas.").
type labelReader struct {
	labels map[string]string
	prefix string
}

func (l labelReader) get(name string) (string, bool) {
	v, ok := l.labels[l.prefix+name]
	return v, ok
}

func (l labelReader) boolean(name string, def bool) (bool, error) {
	v, ok := l.get(name)
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return def, fmt.Errorf("label %s%s=%q: want true or false", l.prefix, name, v)
	}
	return b, nil
}

// route reads the route labels under sub ("" for the service level,
// "routes.<name>." for a named route), each unset one taking its value from
// def. pathSet says whether def's prefix came from a path label: if not, a
// route with hosts and no path label of its own claims the whole host. It
// returns whether the route's prefix came from a path label.
func (l labelReader) route(sub string, def RouteConfig, pathSet bool) (RouteConfig, bool, error) {
	r := def
	if v, ok := l.get(sub + Host); ok {
		hosts, err := parseHosts(v)
		if err != nil {
			return r, pathSet, fmt.Errorf("label %s%s%s=%q: %w", l.prefix, sub, Host, v, err)
		}
		r.Hosts = hosts
	}
	if v, ok := l.get(sub + Path); ok {
		p, err := normalizePrefix(v)
		if err != nil {
			return r, pathSet, fmt.Errorf("label %s%s%s=%q: %w", l.prefix, sub, Path, v, err)
		}
		r.Prefix, pathSet = p, true
	} else if !pathSet && len(r.Hosts) > 0 {
		r.Prefix = "/"
	}
	if v, ok := l.get(sub + Port); ok {
		port, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || port == 0 {
			return r, pathSet, fmt.Errorf("label %s%s%s=%q: want a port number from 1 to 65535", l.prefix, sub, Port, v)
		}
		r.Port = uint16(port)
	}
	if v, ok := l.get(sub + Policy); ok {
		r.Policy = strings.TrimSpace(v)
		if !ValidName(r.Policy) {
			return r, pathSet, fmt.Errorf("label %s%s%s=%q: want a policy name of lower-case letters, digits, - and _", l.prefix, sub, Policy, v)
		}
	}
	strip, err := l.boolean(sub+StripPrefix, r.Strip)
	r.Strip = strip
	return r, pathSet, err
}

// weight reads the weight label under sub into r. A malformed one is a
// warning in cfg (route rn, "" for the service level) and leaves r
// unweighted, whatever its default: a typo never gives a claim a share
// it was not meant to have.
func (l labelReader) weight(sub string, r RouteConfig, cfg *Config) RouteConfig {
	v, ok := l.get(sub + Weight)
	if !ok {
		return r
	}
	w, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || w > routing.MaxWeight {
		rn := strings.TrimSuffix(strings.TrimPrefix(sub, Routes+"."), ".")
		cfg.Warnings = append(cfg.Warnings, RouteProblem{Route: rn, Err: fmt.Errorf(
			"label %s%s%s=%q: want an integer from 0 to %d; the route is routed without a weight", l.prefix, sub, Weight, v, routing.MaxWeight)})
		r.Weighted, r.Weight = false, 0
		return r
	}
	r.Weighted, r.Weight = true, uint32(w)
	return r
}

// routeNames returns the names of the routes declared as
// `<prefix>.routes.<name>.<field>`, sorted.
func (l labelReader) routeNames() []string {
	seen := map[string]bool{}
	for k := range l.labels {
		rest, ok := strings.CutPrefix(k, l.prefix+Routes+".")
		if !ok {
			continue
		}
		if i := strings.LastIndexByte(rest, '.'); i > 0 {
			seen[rest[:i]] = true
		} else {
			seen[rest] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// unknownFields reports a label of route rn that is not a route field.
func (l labelReader) unknownFields(rn string) error {
	return labelReader{labels: l.labels, prefix: l.prefix + Routes + "." + rn + "."}.unknown("route field", routeFields)
}

// ValidName reports whether a route or policy name reads well in a label
// (and, for a policy, is a name Caddy's named routes take as it is).
func ValidName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseLBMode validates a load-balancing mode.
func ParseLBMode(v string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(v)); m {
	case LBTasks, LBLocal, LBVIP:
		return m, nil
	default:
		return "", fmt.Errorf("want %q, %q or %q", LBTasks, LBLocal, LBVIP)
	}
}

// normalizePrefix turns a path label into the canonical prefix it claims:
// surrounding white space and trailing slashes are removed and the path is
// cleaned, so "/a/", " /a" and "/a//" all claim "/a" and then conflict by the
// documented rule. Only printable ASCII that needs no escaping in a URL path
// is accepted, so a look-alike (unicode) or percent-encoded prefix cannot
// pretend to be another one.
func normalizePrefix(v string) (string, error) {
	p := strings.TrimSpace(v)
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("a path prefix must start with /")
	}
	for i := 0; i < len(p); i++ {
		if !isPathChar(p[i]) {
			return "", fmt.Errorf("character %q is not allowed in a path prefix", p[i])
		}
	}
	p = path.Clean(p)
	if len(p) > maxPrefixLen {
		return "", fmt.Errorf("a path prefix may be at most %d characters long, this one has %d", maxPrefixLen, len(p))
	}
	if n := routing.Segments(p); n > maxPrefixSegments {
		return "", fmt.Errorf("a path prefix may have at most %d segments, this one has %d", maxPrefixSegments, n)
	}
	return p, nil
}

// isPathChar reports whether c may appear unescaped in a prefix: RFC 3986
// pchar without percent-encoding, plus the segment separator.
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("/-._~!$&'()*+,;=:@", c) >= 0
}
