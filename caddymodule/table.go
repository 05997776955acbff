package caddymodule

// This file holds the route table and its lookup: what a request reads.
// Nothing here knows about Docker; build.go makes tables from swarm state.

import (
	"path"
	"strings"
)

// route is one service's claim on a path prefix, with the addresses of the
// replicas that serve it. Routes are immutable once built.
type route struct {
	Prefix  string
	Service string // service name
	Strip   bool
	// Upstreams are dial addresses (host:port), sorted, one per running task
	// (or the service's virtual IP in vip mode).
	Upstreams []string
}

// routeTable maps path prefixes to routes. It is immutable: the watcher
// builds a new one on every change and swaps it in whole.
type routeTable struct {
	byPrefix map[string]*route
	// depth is the most segments any prefix has: a path's segments past
	// it cannot be part of a match, so lookups start there.
	depth int
}

// emptyTable is what the gateway routes with before the first listing.
var emptyTable = newRouteTable()

func newRouteTable() *routeTable {
	return &routeTable{byPrefix: make(map[string]*route)}
}

// add puts r in the table unless its prefix is taken, and reports whether
// it did. Only the builder calls it, before the table is published.
func (t *routeTable) add(r *route) bool {
	if _, taken := t.byPrefix[r.Prefix]; taken {
		return false
	}
	t.byPrefix[r.Prefix] = r
	t.depth = max(t.depth, segments(r.Prefix))
	return true
}

// lookup returns the route that claims exactly prefix, or nil: how a retry
// finds the current replicas of the route its request was given.
func (t *routeTable) lookup(prefix string) *route { return t.byPrefix[prefix] }

// match returns the route with the longest prefix that covers p on whole
// segments, or nil. p must be a cleaned path without a trailing slash
// (see cleanPath). It costs at most one map lookup per segment of the
// deepest prefix, whatever the number of routes, and does not allocate.
func (t *routeTable) match(p string) *route {
	p = firstSegments(p, t.depth)
	for {
		if r, ok := t.byPrefix[p]; ok {
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
