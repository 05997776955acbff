package caddymodule

// This file reads a service's labels into the routing it asks for.

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Label names, relative to the label prefix (default "faas").
const (
	labelEnable  = "enable"
	labelPath    = "path"
	labelPort    = "port"
	labelStrip   = "strip_prefix"
	labelNetwork = "network"
	labelLB      = "lb"
)

// stackNamespaceLabel is set by `docker stack deploy` on every service it creates.
const stackNamespaceLabel = "com.docker.stack.namespace"

// Load-balancing modes: route to each running task, or to the service's virtual IP.
const (
	lbTasks = "tasks"
	lbVIP   = "vip"
)

// defaultPort is the port a service's replicas are assumed to listen on
// when it sets no port label.
const defaultPort = 80

// Limits on a path prefix. Every request's lookup costs one map lookup per
// segment of the deepest prefix in the table, so one service must not be
// able to make every request slower with an absurdly deep prefix.
const (
	maxPrefixSegments = 16
	maxPrefixLen      = 256
)

// serviceConfig is what a service's labels say about how to route to it.
type serviceConfig struct {
	Enabled bool
	Prefix  string // cleaned, starts with "/", no trailing slash unless it is "/"
	Port    uint16
	Strip   bool
	Network string // empty: choose automatically
	LB      string // lbTasks or lbVIP
}

// parseLabels reads the routing labels of one service. name is the service
// name, used for the default prefix; defaultLB is the module's lb option.
// A service without the enable label (or with it false) is returned with
// Enabled false and no error. Any malformed label returns an error that names
// the label, so that the service can be disabled with a clear message.
func parseLabels(labels map[string]string, prefix, name, defaultLB string) (serviceConfig, error) {
	key := func(l string) string { return prefix + "." + l }
	cfg := serviceConfig{Port: defaultPort, Strip: true, LB: defaultLB}

	if v, ok := labels[key(labelEnable)]; ok {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("label %s=%q: want true or false", key(labelEnable), v)
		}
		cfg.Enabled = on
	}
	if !cfg.Enabled {
		return cfg, nil
	}

	if ns := labels[stackNamespaceLabel]; ns != "" {
		name = strings.TrimPrefix(name, ns+"_")
	}
	cfg.Prefix = "/" + name
	if v, ok := labels[key(labelPath)]; ok {
		p, err := normalizePrefix(v)
		if err != nil {
			return cfg, fmt.Errorf("label %s=%q: %w", key(labelPath), v, err)
		}
		cfg.Prefix = p
	}
	if v, ok := labels[key(labelPort)]; ok {
		port, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || port == 0 {
			return cfg, fmt.Errorf("label %s=%q: want a port number from 1 to 65535", key(labelPort), v)
		}
		cfg.Port = uint16(port)
	}
	if v, ok := labels[key(labelStrip)]; ok {
		strip, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("label %s=%q: want true or false", key(labelStrip), v)
		}
		cfg.Strip = strip
	}
	if v, ok := labels[key(labelNetwork)]; ok {
		cfg.Network = strings.TrimSpace(v)
		if cfg.Network == "" {
			return cfg, fmt.Errorf("label %s is empty: want a network name", key(labelNetwork))
		}
	}
	if v, ok := labels[key(labelLB)]; ok {
		lb, err := parseLBMode(v)
		if err != nil {
			return cfg, fmt.Errorf("label %s=%q: %w", key(labelLB), v, err)
		}
		cfg.LB = lb
	}
	return cfg, nil
}

// parseLBMode validates a load-balancing mode.
func parseLBMode(v string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(v)); m {
	case lbTasks, lbVIP:
		return m, nil
	default:
		return "", fmt.Errorf("want %q or %q", lbTasks, lbVIP)
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
	if n := segments(p); n > maxPrefixSegments {
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
