package caddymodule

// This file holds the route table and its lookup: what a request reads.
// Nothing here knows about Docker; build.go makes tables from swarm state.

import (
	"path"
	"strings"
	"time"
)

// route is one claim of a service on a host and path prefix, with the
// addresses of the replicas that serve it. Routes are immutable once built.
type route struct {
	// Host is the host the route claims: a name (`app.example.com`), a
	// wildcard one label deep (`*.example.com`), or "" for any host.
	Host    string
	Prefix  string
	Service string // service name
	Name    string // the route's name within its service, "" for the service-level route
	Strip   bool
	// Policy is the named route (`&(name)` in the Caddyfile) that handles
	// the route's requests, "" for the handlers that follow swarm_route.
	Policy string
	// Upstreams are dial addresses (host:port), sorted, one per running task
	// (or the service's virtual IP in vip mode).
	Upstreams []string
	// Replicas describe the Upstreams, in the same order.
	Replicas []replica
	// meter counts the route's requests: set by the watcher before it
	// publishes the table, nil in a table that is not published.
	meter *routeMeter
}

// replica is what serves one of a route's upstreams: a running task, or
// the service's virtual IP.
type replica struct {
	Addr   string // dial address
	TaskID string // "" for a virtual IP
	Task   string // task name: service.slot, or service.node for a global service
	NodeID string
	// Running is when the task reached its current (running) state, by
	// the engine's clock.
	Running time.Time
}

// pathTable maps the path prefixes claimed on one host to their routes.
type pathTable struct {
	byPrefix map[string]*route
	// depth is the most segments any prefix has: a path's segments past
	// it cannot be part of a match, so lookups start there.
	depth int
}

// routeTable holds every route, by host then by prefix. It is immutable:
// the watcher builds a new one on every change and swaps it in whole.
//
// A request is matched against the routes of its exact host, then those
// of the wildcard one label above it, then the host-less routes; within
// each, the longest prefix covering the path on whole segments wins. The
// first of the three that has a match answers.
type routeTable struct {
	exact    map[string]*pathTable // by host name
	wildcard map[string]*pathTable // by the domain below the `*.`
	anyHost  pathTable
	// hosts is true when any route claims a host: until then, requests
	// skip reading their Host header.
	hosts bool
}

// emptyTable is what the gateway routes with before the first listing.
var emptyTable = newRouteTable()

func newRouteTable() *routeTable {
	return &routeTable{
		exact:    make(map[string]*pathTable),
		wildcard: make(map[string]*pathTable),
		anyHost:  pathTable{byPrefix: make(map[string]*route)},
	}
}

// add puts r in the table unless its host and prefix are taken, and
// reports whether it did. Only the builder calls it, before the table is
// published.
func (t *routeTable) add(r *route) bool {
	pt := t.hostTable(r.Host)
	if pt == nil {
		pt = &pathTable{byPrefix: make(map[string]*route)}
		if d, ok := strings.CutPrefix(r.Host, "*."); ok {
			t.wildcard[d] = pt
		} else {
			t.exact[r.Host] = pt
		}
		t.hosts = true
	}
	if _, taken := pt.byPrefix[r.Prefix]; taken {
		return false
	}
	pt.byPrefix[r.Prefix] = r
	pt.depth = max(pt.depth, segments(r.Prefix))
	return true
}

// hostTable returns the routes claimed on a host as a route names it
// ("", a name, or a wildcard), or nil.
func (t *routeTable) hostTable(host string) *pathTable {
	switch d, wild := strings.CutPrefix(host, "*."); {
	case host == "":
		return &t.anyHost
	case wild:
		return t.wildcard[d]
	default:
		return t.exact[host]
	}
}

// lookup returns the route that claims exactly host and prefix (as a
// route names them), or nil: how a retry finds the current replicas of the
// route its request was given.
func (t *routeTable) lookup(host, prefix string) *route {
	if pt := t.hostTable(host); pt != nil {
		return pt.byPrefix[prefix]
	}
	return nil
}

// each calls f for every route.
func (t *routeTable) each(f func(*route)) {
	for _, r := range t.anyHost.byPrefix {
		f(r)
	}
	for _, m := range []map[string]*pathTable{t.exact, t.wildcard} {
		for _, pt := range m {
			for _, r := range pt.byPrefix {
				f(r)
			}
		}
	}
}

// match returns the route for a request to rawHost (its Host header, with
// or without a port) and p, a cleaned path without a trailing slash (see
// cleanPath), or nil. It costs a few map lookups per segment of the
// deepest prefix, whatever the number of routes, and does not allocate.
func (t *routeTable) match(rawHost, p string) *route {
	if t.hosts {
		if h, ok := hostName(rawHost); ok {
			var r *route
			if isLower(h) {
				r = matchHost(t, h, p)
			} else {
				var buf [maxHostLen]byte
				r = matchHost(t, appendLower(buf[:0], h), p)
			}
			if r != nil {
				return r
			}
		}
	}
	return t.anyHost.match(p)
}

// matchHost matches p against the routes of host h (lower-case), exact
// then wildcard. It takes h as a string or bytes, so that lower-casing
// needs no allocation.
func matchHost[H string | []byte](t *routeTable, h H, p string) *route {
	if pt := t.exact[string(h)]; pt != nil {
		if r := pt.match(p); r != nil {
			return r
		}
	}
	if d, ok := parentDomain(h); ok {
		if pt := t.wildcard[string(d)]; pt != nil {
			return pt.match(p)
		}
	}
	return nil
}

// hostClaimed reports whether a route claims the host name, exactly or by
// a wildcard one label above it. name is compared as match compares a
// request's Host: without case, port or trailing dot.
func (t *routeTable) hostClaimed(name string) bool {
	h, ok := hostName(name)
	if !ok {
		return false
	}
	var buf [maxHostLen]byte
	lower := appendLower(buf[:0], h)
	if t.exact[string(lower)] != nil {
		return true
	}
	d, ok := parentDomain(lower)
	return ok && t.wildcard[string(d)] != nil
}

// parentDomain returns the domain one label above h ("b.c" for "a.b.c").
func parentDomain[H string | []byte](h H) (H, bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			return h[i+1:], i > 0
		}
	}
	return h, false
}

// match returns the route with the longest prefix that covers p on whole
// segments, or nil: at most one map lookup per segment of the deepest
// prefix.
func (pt *pathTable) match(p string) *route {
	p = firstSegments(p, pt.depth)
	for {
		if r, ok := pt.byPrefix[p]; ok {
			return r
		}
		if p == "/" || p == "" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// maxHostLen is the longest host name DNS allows.
const maxHostLen = 253

// hostName returns the host name of a Host header or TLS server name,
// without its port or trailing dot, and false for what no route can claim:
// an empty name, an IP address, a wildcard, or one longer than a host name
// can be.
func hostName(raw string) (string, bool) {
	if raw == "" || raw[0] == '[' { // an IPv6 literal
		return "", false
	}
	if i := strings.LastIndexByte(raw, ':'); i >= 0 {
		raw = raw[:i]
	}
	raw = strings.TrimSuffix(raw, ".")
	if raw == "" || len(raw) > maxHostLen || numericLastLabel(raw) || strings.IndexByte(raw, '*') >= 0 {
		return "", false // no route claims it; a `*` is a label's, never a host's
	}
	return raw, true
}

// numericLastLabel reports whether h's last label is all digits, as an IPv4
// address's is and no claimed host's can be.
func numericLastLabel(h string) bool {
	for i := len(h) - 1; i >= 0 && h[i] != '.'; i-- {
		if h[i] < '0' || h[i] > '9' {
			return false
		}
	}
	return true
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

// appendLower appends s to dst in lower case (ASCII).
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// firstSegments cuts p after its first n segments ("/a/b/c", 2: "/a/b").
func firstSegments(p string, n int) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			if n--; n <= 0 {
				return p[:i]
			}
		}
	}
	return p
}

// segments counts a prefix's segments ("/" has none, "/a/b" two).
func segments(prefix string) int {
	if prefix == "/" {
		return 0
	}
	return strings.Count(prefix, "/")
}

// cleanPath returns the cleaned form of a request path, the form that is
// matched and forwarded, and keeps a trailing slash the client sent (so
// "/a/b/" stays a directory). "..", "." and repeated slashes are resolved
// before matching, so "/multiply/../other" is matched as "/other".
// It does not allocate when p is already clean.
func cleanPath(p string) (cleaned string) {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && p[len(p)-1] == '/' {
		if len(c)+1 == len(p) && p[:len(c)] == c {
			return p // already clean, with its trailing slash
		}
		return c + "/"
	}
	return c
}

// matchKey drops the trailing slash cleanPath may have kept.
func matchKey(cleaned string) string {
	if len(cleaned) > 1 && cleaned[len(cleaned)-1] == '/' {
		return cleaned[:len(cleaned)-1]
	}
	return cleaned
}

// stripPrefix removes prefix from the cleaned path p on a segment boundary.
func stripPrefix(p, prefix string) string {
	if prefix == "/" {
		return p
	}
	rest := p[len(prefix):]
	if rest == "" {
		return "/"
	}
	return rest
}
