package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/swarmsource"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// benchOptions are the swarm source's default options.
var benchOptions = swarmsource.Options{LabelPrefix: "faas", LB: labels.LBTasks}

// benchState is a listing of n services with tasksPer running tasks each,
// on one /16 network the gateway shares.
func benchState(n, tasksPer int) swarmsource.State {
	st := swarmsource.State{
		Networks:   []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.0.0/16")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
	}
	for i := range n {
		name := fmt.Sprintf("svc%05d", i)
		st.Services = append(st.Services, fake.Service(name, fake.Enabled(), fake.ServiceReplicas(uint64(tasksPer))))
		for j := range tasksPer {
			k := i*tasksPer + j + 3
			t := fake.Task(name, fmt.Sprintf("10.0.%d.%d", k/250, k%250+1))
			t.NetworksAttachments[0].Addresses[0] = fmt.Sprintf("10.0.%d.%d/16", k/250, k%250+1)
			st.Tasks = append(st.Tasks, t)
		}
	}
	return st
}

// BenchmarkLookup is the per-request work of the gateway: matching the
// path against the route table (swarm_route) and producing the upstreams
// (GetUpstreams), at 10 to 10,000 routes of 10 replicas each.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		table, _ := swarmsource.Build(benchState(n, 10), benchOptions)
		if table.Len() != n {
			b.Fatalf("built %d routes, want %d", table.Len(), n)
		}
		path := fmt.Sprintf("/svc%05d/api/v1/add", n/2)
		b.Run(fmt.Sprintf("routes=%d/match", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if table.Match("", routing.MatchKey(routing.CleanPath(path))) == nil {
					b.Fatal("no match")
				}
			}
		})
		b.Run(fmt.Sprintf("routes=%d/match+GetUpstreams", n), func(b *testing.B) {
			w := fake.Watcher(discovery.Options{})
			discovery.NewFeed(w).Publish(table, discovery.NewReport(), true)
			su := new(SwarmUpstreams)
			su.watcher = w
			req := httptest.NewRequest("GET", path, nil)
			req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			b.ReportAllocs()
			for b.Loop() {
				ups, _ := su.GetUpstreams(req)
				if len(ups) != 10 {
					b.Fatalf("%d upstreams", len(ups))
				}
			}
		})
	}
}

// BenchmarkBuildTable is one rebuild of the route table from a listing of
// 1,000 services with 10 tasks each.
func BenchmarkBuildTable(b *testing.B) {
	st := benchState(1000, 10)
	b.ReportAllocs()
	for b.Loop() {
		if t, _ := swarmsource.Build(st, benchOptions); t.Len() != 1000 {
			b.Fatalf("%d routes", t.Len())
		}
	}
}

// BenchmarkHostLookup is the per-request lookup with host routes: 10,000
// routes spread over 1,000 hosts (10 prefixes each), plus host-less ones,
// against the path-only lookup of BenchmarkLookup at 10,000 routes.
func BenchmarkHostLookup(b *testing.B) {
	table := routing.NewTable()
	for h := range 1000 {
		for p := range 10 {
			table.Add(routing.NewRoute(fmt.Sprintf("host%04d.example.com", h), fmt.Sprintf("/p%d", p), routing.Side{Service: "s"}))
		}
	}
	table.Add(routing.NewRoute("*.apps.example.com", "/", routing.Side{Service: "w"}))
	table.Add(routing.NewRoute("", "/multiply", routing.Side{Service: "m"}))
	for _, bc := range []struct{ name, host, path string }{
		{"exact", "host0500.example.com", "/p5/api/v1/add"},
		{"exact, upper case and port", "HOST0500.example.com:443", "/p5/api/v1/add"},
		{"wildcard", "a.apps.example.com", "/api/v1/add"},
		{"host-less fallback", "127.0.0.1:8081", "/multiply/api/v1/add"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if table.Match(bc.host, routing.MatchKey(routing.CleanPath(bc.path))) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

// BenchmarkServeHTTP is swarm_route's whole per-request work, at 1,000
// routes: for a route without a policy; for one with a policy (an empty
// named route, so that only the dispatch is measured); and, for
// comparison, swarm_route followed by Caddy's invoke of the same named
// route, which a policy must cost at most one map lookup more than.
func BenchmarkServeHTTP(b *testing.B) {
	table, _ := swarmsource.Build(benchState(1000, 10), benchOptions)
	plain := table.Lookup("", "/svc00500").Pick()
	table.Add(routing.NewRoute("", "/with-policy", routing.Side{Service: "p", Strip: true, Policy: "p", Upstreams: plain.Upstreams}))
	w := fake.Watcher(discovery.Options{})
	discovery.NewFeed(w).Publish(table, discovery.NewReport(), true)
	// Without counting, as BenchmarkRequestPath measures it: the
	// routing and the dispatch alone.
	sr := &SwarmRoute{NoMetrics: true, policies: &policySet{names: map[string]struct{}{"p": {}}}}
	sr.watcher = w
	srv := &caddyhttp.Server{NamedRoutes: map[string]*caddyhttp.Route{"p": {}}}
	end := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	invoke := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return (&caddyhttp.Invoke{Name: "p"}).ServeHTTP(w, r, end)
	})
	for _, bc := range []struct {
		name, path string
		next       caddyhttp.Handler
	}{
		{"no policy", "/svc00500/api/v1/add", end},
		{"policy", "/with-policy/api/v1/add", end},
		{"invoke", "/svc00500/api/v1/add", invoke},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
			ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, srv)
			ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
			req := httptest.NewRequest("GET", bc.path, nil).WithContext(ctx)
			rec := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				req.URL.Path = bc.path
				if err := sr.ServeHTTP(rec, req, bc.next); err != nil || rec.Code != http.StatusOK {
					b.Fatal(err, rec.Code)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmark measures the handler, not a recorder.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { return d.h }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkRequestPath is swarm_route's work for one request, with the
// per-route and per-replica metrics on (the default) and off: routing,
// then counting the status, the duration and the replica that reverse_proxy
// (here a handler that sets its placeholder) sent the request to.
func BenchmarkRequestPath(b *testing.B) {
	w := fake.Watcher(discovery.Options{})
	publish(w, benchState(100, 10))
	const path = "/svc00050/api/v1/add"
	served := w.Table().Match("", path).Pick().Upstreams[3]
	for _, metrics := range []bool{true, false} {
		b.Run(fmt.Sprintf("metrics=%v", metrics), func(b *testing.B) {
			sr := &SwarmRoute{NoMetrics: !metrics}
			sr.watcher = w
			benchRequests(b, sr, path, served)
		})
	}
	side := w.Table().Match("", path).Pick()
	if n := side.Meter.ServedBy(served); n == 0 {
		b.Fatalf("the replica that served counted %d requests", n)
	}
}

// benchRequests runs sr on requests for path, passed on to a handler
// that says, as reverse_proxy does, that served served them.
func benchRequests(b *testing.B, sr *SwarmRoute, path, served string) {
	proxy := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Set(upstreamPlaceholder, served)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	req := httptest.NewRequest(http.MethodGet, path, nil)
	ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	req = req.WithContext(ctx)
	rw := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req.URL.Path = path
		if err := sr.ServeHTTP(rw, req, proxy); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaledRequestPath is BenchmarkRequestPath's work (metrics on)
// for a service with scaling labels and a replica running: what counting
// its requests in flight adds.
func BenchmarkScaledRequestPath(b *testing.B) {
	w := fake.Watcher(discovery.Options{})
	st := benchState(100, 10)
	st.Services[50].Spec.Labels["faas.scale.max"] = "20"
	publish(w, st)
	const path = "/svc00050/api/v1/add"
	side := w.Table().Match("", path).Pick()
	if side.Load == nil {
		b.Fatal("the side has no load counter")
	}
	sr := &SwarmRoute{}
	sr.watcher = w
	sr.scaler = scaling.New(scaling.Options{Services: w.Table().ScaledServices, Scaler: w})
	benchRequests(b, sr, path, side.Upstreams[3])
	if inFlight, n := side.Load.Read(); inFlight != 0 || n == 0 {
		b.Fatalf("load: %d in flight, %d requests; want 0 and some", inFlight, n)
	}
}

// BenchmarkSelect is the load-balancing policy's choice of one of 10
// replicas: swarm_round_robin with the side swarm_route chose (its
// counter) and without one (the handler's), against Caddy's round_robin.
func BenchmarkSelect(b *testing.B) {
	w := fake.Watcher(discovery.Options{})
	publish(w, benchState(10, 10))
	side := w.Table().Match("", "/svc00005").Pick()
	pool := newUpstreams(side.Upstreams)
	for _, bc := range []struct {
		name string
		sel  reverseproxy.Selector
		vars map[string]any
	}{
		{"swarm_round_robin", new(SwarmRoundRobin), map[string]any{routeVar: side}},
		{"swarm_round_robin, no side", new(SwarmRoundRobin), map[string]any{}},
		{"round_robin", new(reverseproxy.RoundRobinSelection), map[string]any{routeVar: side}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/svc00005/", nil)
			req = req.WithContext(context.WithValue(req.Context(), caddyhttp.VarsCtxKey, bc.vars))
			b.ReportAllocs()
			for b.Loop() {
				if bc.sel.Select(pool, req, nil) == nil {
					b.Fatal("no upstream")
				}
			}
		})
	}
}
