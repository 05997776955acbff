// Package routing holds what every request reads: the route table, its
// matching of a request's host and path, the path and host-name helpers
// that matching shares with the labels, and the per-route meters that a
// request counts on. Nothing here knows Docker: the sources below
// discovery build tables, the Caddy modules read them.
//
// Files: route.go (a route, its sides and replicas), weights.go (the
// draw and the side keys of weighted routes), table.go (the table and its
// lookups), match.go (matching a request), hostname.go (the host name of
// a Host header), paths.go (cleaning, matching and stripping paths),
// meters.go (per-route and per-replica counters), loads.go (the
// scaled services' load counters), histogram.go (the
// lock-free histogram they observe into).
package routing
