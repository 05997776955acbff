package routing

// This file matches a request's host and path against a table: what every
// request costs, a few map lookups and no allocation.

import "strings"

// Match returns the route for a request to rawHost (its Host header, with
// or without a port) and p, a cleaned path without a trailing slash (see
// CleanPath and MatchKey), or nil. It costs a few map lookups per segment
// of the deepest prefix, whatever the number of routes, and does not
// allocate.
func (t *Table) Match(rawHost, p string) *Route {
	if t.hosts {
		if h, ok := hostName(rawHost); ok {
			var r *Route
			if isLower(h) {
				r = matchHost(t, h, p)
			} else {
				var buf [MaxHostLen]byte
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
func matchHost[H string | []byte](t *Table, h H, p string) *Route {
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

// HostClaimed reports whether a route claims the host name, exactly or by
// a wildcard one label above it. name is compared as Match compares a
// request's Host: without case, port or trailing dot.
func (t *Table) HostClaimed(name string) bool {
	h, ok := hostName(name)
	if !ok {
		return false
	}
	var buf [MaxHostLen]byte
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
func (pt *pathTable) match(p string) *Route {
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
