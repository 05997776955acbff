package routing

// This file holds the route table: its routes by host then by prefix, and
// the lookups that builders and retries make by claim.

import "strings"

// pathTable maps the path prefixes claimed on one host to their routes.
type pathTable struct {
	byPrefix map[string]*Route
	// depth is the most segments any prefix has: a path's segments past
	// it cannot be part of a match, so lookups start there.
	depth int
}

// Table holds every route, by host then by prefix. It is immutable once
// published: a source builds a new one on every change and the watcher
// swaps it in whole.
//
// A request is matched against the routes of its exact host, then those
// of the wildcard one label above it, then the host-less routes; within
// each, the longest prefix covering the path on whole segments wins. The
// first of the three that has a match answers.
type Table struct {
	exact    map[string]*pathTable // by host name
	wildcard map[string]*pathTable // by the domain below the `*.`
	anyHost  pathTable
	// hosts is true when any route claims a host: until then, requests
	// skip reading their Host header.
	hosts bool
	n     int // routes
}

// Empty is the table a gateway routes with before its first listing.
var Empty = NewTable()

// NewTable returns an empty table to add routes to.
func NewTable() *Table {
	return &Table{
		exact:    make(map[string]*pathTable),
		wildcard: make(map[string]*pathTable),
		anyHost:  pathTable{byPrefix: make(map[string]*Route)},
	}
}

// Add puts r in the table unless its host and prefix are taken, and
// reports whether it did. Only builders call it, before the table is
// published.
func (t *Table) Add(r *Route) bool {
	pt := t.hostTable(r.Host)
	if pt == nil {
		pt = &pathTable{byPrefix: make(map[string]*Route)}
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
	r.index()
	pt.byPrefix[r.Prefix] = r
	pt.depth = max(pt.depth, Segments(r.Prefix))
	t.n++
	return true
}

// Join adds side to the weighted route that claims exactly host and
// prefix, and reports whether it did: not if no route claims them, or the
// route is not weighted. Only builders call it, before the table is
// published.
func (t *Table) Join(host, prefix string, side Side) bool {
	r := t.Lookup(host, prefix)
	if r == nil || !r.Weighted {
		return false
	}
	r.Sides = append(r.Sides, side)
	r.index()
	return true
}

// Len returns the number of routes.
func (t *Table) Len() int { return t.n }

// hostTable returns the routes claimed on a host as a route names it
// ("", a name, or a wildcard), or nil.
func (t *Table) hostTable(host string) *pathTable {
	switch d, wild := strings.CutPrefix(host, "*."); {
	case host == "":
		return &t.anyHost
	case wild:
		return t.wildcard[d]
	default:
		return t.exact[host]
	}
}

// Lookup returns the route that claims exactly host and prefix (as a
// route names them), or nil: how a retry finds the current replicas of the
// route its request was given.
func (t *Table) Lookup(host, prefix string) *Route {
	if pt := t.hostTable(host); pt != nil {
		return pt.byPrefix[prefix]
	}
	return nil
}

// Current returns t's side of the claim, service and route name of s, a
// side of an earlier table, or nil if t has none: how a request that was
// given s finds the replicas its side has now.
func (t *Table) Current(s *Side) *Side {
	if claim := s.Route(); claim != nil {
		if r := t.Lookup(claim.Host, claim.Prefix); r != nil {
			return r.Side(s.Service, s.Name)
		}
	}
	return nil
}

// Each calls f for every route.
func (t *Table) Each(f func(*Route)) {
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

// EachSide calls f for every side of every route.
func (t *Table) EachSide(f func(*Route, *Side)) {
	t.Each(func(r *Route) {
		for i := range r.Sides {
			f(r, &r.Sides[i])
		}
	})
}
