// Package caddymodule holds faas-gateway's Caddy modules and their
// configuration: what Caddy loads and calls. Beneath it, and held apart by
// the compiler, are the layers they read: routing (the route table and
// matching a request; no Docker), labels (reading a service's labels into
// routes), discovery (the watcher that keeps a table current from a
// source, behind a snapshot, readiness, kicks and stats) with
// discovery/swarmsource (the swarm source: every Docker API call, the
// event stream, building tables), and lazylog (a log encoder of its own).
//
// The modules, one file each:
//
//   - upstreams.go: `http.reverse_proxy.upstreams.swarm` (`dynamic swarm`),
//     the replicas of the service a request is routed to;
//   - swarmroute.go: `http.handlers.swarm_route`, which chooses that
//     service, prepares the request and counts it;
//   - policy.go: the policies (named routes) a service chooses by label;
//   - ready.go: `http.handlers.swarm_ready`, readiness for load balancers;
//   - status.go (and status.html): `http.handlers.swarm_status`, the
//     status page;
//   - matcher.go: `http.matchers.swarm_host`, requests for claimed hosts;
//   - permission.go: `tls.permission.swarm`, on-demand certificates for
//     claimed hosts only;
//   - admin.go: `admin.api.swarm`, the routes API on the admin endpoint.
//
// What they share: discovery.go (the discovery options every module
// embeds, their defaults and checks, and the watchers shared between
// modules and across reloads), engines.go (the engines option: several
// Docker engines, and how each is reached), caddyfile.go (every module's Caddyfile
// syntax), collector.go (the Prometheus metrics), views.go (the JSON of
// the routes API and the status page) and respond.go (the answers the
// modules write themselves).
package caddymodule
