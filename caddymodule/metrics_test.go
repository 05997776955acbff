package caddymodule

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/swarmsource"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func taskSlot(n int) fake.TaskOpt { return func(t *swarm.Task) { t.Slot = n } }

func taskRunningSince(at time.Time) fake.TaskOpt {
	return func(t *swarm.Task) { t.Status.Timestamp = at }
}

// gather collects c through a pedantic registry, as Caddy's is, and
// returns its metric families by name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("registering: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// seriesBy returns the values of a counter or gauge family, keyed by the
// value of label (joined with "," when there are several labels).
func seriesBy(mf *dto.MetricFamily, labels ...string) map[string]float64 {
	out := make(map[string]float64)
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var key []string
		for _, want := range labels {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == want {
					key = append(key, lp.GetValue())
				}
			}
		}
		v := m.GetCounter().GetValue()
		if m.Gauge != nil {
			v = m.GetGauge().GetValue()
		}
		out[strings.Join(key, ",")] = v
	}
	return out
}

// metricsState is a listing of service s with running tasks at the given
// addresses (10.0.1.x), each running since a second before now.
func metricsState(now time.Time, addrs ...string) swarmsource.State {
	st := swarmsource.State{
		Networks:   []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.1.2")},
		Services:   []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceReplicas(uint64(len(addrs))))},
	}
	for i, a := range addrs {
		st.Tasks = append(st.Tasks, fake.Task("s", a, taskSlot(i+1), taskRunningSince(now.Add(-time.Second))))
	}
	return st
}

// TestReplicaMetricsFollowTheTable publishes a sequence of listings and
// serves requests between them: per-replica counts survive rebuilds while
// the replica is routed, sum to the requests served, and leave the metrics
// with the replica; a replica that joins after the first listing has its
// join latency observed.
func TestReplicaMetricsFollowTheTable(t *testing.T) {
	steps := []struct {
		name      string
		addrs     []string // running tasks
		serve     []string // addresses that serve one request each
		want      map[string]float64
		wantJoins uint64
	}{
		{"first listing", []string{"10.0.1.10", "10.0.1.11"}, []string{"10.0.1.10", "10.0.1.10", "10.0.1.11"},
			map[string]float64{"10.0.1.10:8080": 2, "10.0.1.11:8080": 1}, 0},
		{"a replica joins: counts kept", []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"}, []string{"10.0.1.12"},
			map[string]float64{"10.0.1.10:8080": 2, "10.0.1.11:8080": 1, "10.0.1.12:8080": 1}, 1},
		{"two leave: their series go", []string{"10.0.1.12"}, []string{"10.0.1.12"},
			map[string]float64{"10.0.1.12:8080": 2}, 1},
		{"a new task joins", []string{"10.0.1.12", "10.0.1.13"}, []string{"10.0.1.13"},
			map[string]float64{"10.0.1.12:8080": 2, "10.0.1.13:8080": 1}, 2},
		{"all leave", nil, nil, map[string]float64{}, 2},
	}
	now := time.Now()
	w := fake.Watcher(discovery.Options{Now: func() time.Time { return now }})
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			now = now.Add(time.Minute)
			publish(w, metricsState(now, step.addrs...))
			side := w.Table().Match("", "/s").Pick()
			for _, a := range step.serve {
				side.Meter.Observe(200, time.Millisecond)
				if !side.Meter.Served(a + ":8080") {
					t.Fatalf("route has no replica %s", a)
				}
			}
			mfs := gather(t, collectorOf(w))
			got := seriesBy(mfs["faas_gateway_replica_requests_total"], "address")
			if !maps.Equal(got, step.want) {
				t.Errorf("replica requests = %v, want %v", got, step.want)
			}
			if n := seriesBy(mfs["faas_gateway_replicas"], "service")["s"]; int(n) != len(step.addrs) {
				t.Errorf("replicas = %v, want %d", n, len(step.addrs))
			}
			joins := mfs["faas_gateway_replica_join_seconds"].GetMetric()[0].GetHistogram()
			if joins.GetSampleCount() != step.wantJoins {
				t.Errorf("joins observed = %d, want %d", joins.GetSampleCount(), step.wantJoins)
			}
			if step.wantJoins > 0 && joins.GetSampleSum() != float64(step.wantJoins) {
				t.Errorf("join seconds sum = %v, want %d (one second each)", joins.GetSampleSum(), step.wantJoins)
			}
		})
	}
}

// TestRequestMetrics checks the per-route counts: by status class, with
// the duration histogram counting every request.
func TestRequestMetrics(t *testing.T) {
	w := fake.Watcher(discovery.Options{})
	publish(w, metricsState(time.Now(), "10.0.1.10"))
	side := w.Table().Match("", "/s").Pick()
	for _, st := range []int{200, 201, 204, 302, 404, 502, 503, 0, 999} {
		side.Meter.Observe(st, 2*time.Second)
	}
	mfs := gather(t, collectorOf(w))
	got := seriesBy(mfs["faas_gateway_requests_total"], "service", "route", "status_class")
	want := map[string]float64{"s,,1xx": 0, "s,,2xx": 3, "s,,3xx": 1, "s,,4xx": 1, "s,,5xx": 4}
	if !maps.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	h := mfs["faas_gateway_request_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 9 || h.GetSampleSum() != 18 {
		t.Errorf("duration count %d sum %v, want 9 and 18", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		if want := map[bool]uint64{true: 9, false: 0}[b.GetUpperBound() >= 2]; b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v has %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// TestNotRoutedMetric checks the services-not-routed gauge, by reason.
func TestNotRoutedMetric(t *testing.T) {
	w := fake.Watcher(discovery.Options{})
	st := metricsState(time.Now(), "10.0.1.10")
	st.Services = append(st.Services,
		fake.Service("badport", fake.ServiceLabels("faas.enable", "true", "faas.port", "http")),
		fake.Service("dup", fake.Enabled("faas.path", "/s"), fake.ServiceCreated(time.Hour)),
		fake.Service("novip", fake.Enabled("faas.lb", "vip")),
	)
	publish(w, st)
	got := seriesBy(gather(t, collectorOf(w))["faas_gateway_services_not_routed"], "reason")
	want := map[string]float64{discovery.ReasonLabels: 1, discovery.ReasonClaimed: 1, discovery.ReasonUpstreams: 1, discovery.ReasonNetwork: 0}
	if !maps.Equal(got, want) {
		t.Errorf("not routed = %v, want %v", got, want)
	}
}

// TestDiscoveryMetrics runs a watcher on the fake engine through an
// outage: the reachability gauge and the error counter show it.
func TestDiscoveryMetrics(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	d := Discovery{DockerHost: fe.Host(), ResyncInterval: caddy.Duration(time.Hour), ConvergeInterval: caddy.Duration(50 * time.Millisecond)}
	provisionModule(t, &d)
	w := d.watcher
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.WaitSubscribed(t) // else the update's event may be dropped, and a re-list find the replica
	fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080", "10.0.1.11:8080")

	value := func(name string) float64 {
		return seriesBy(gather(t, collectorOf(w))[name])[""]
	}
	errorsOf := func() float64 {
		return seriesBy(gather(t, collectorOf(w))["faas_gateway_docker_api_errors_total"], "endpoint")["GET /services"]
	}
	if up := value("faas_gateway_docker_api_up"); up != 1 {
		t.Errorf("docker_api_up = %v before the outage, want 1", up)
	}
	// The event is counted when the watcher takes it, which may be after a
	// re-list has already found the replica.
	eventually(t, 5*time.Second, "the update's event counted", func() error {
		if n := value("faas_gateway_docker_events_total"); n < 1 {
			return fmt.Errorf("events = %v, want at least 1", n)
		}
		return nil
	})
	if age := value("faas_gateway_discovery_seconds_since_last_sync"); age < 0 || age > 5 {
		t.Errorf("seconds since last sync = %v", age)
	}
	if errs := errorsOf(); errs != 0 {
		t.Errorf("%v errors before the outage", errs)
	}
	resyncs := seriesBy(gather(t, collectorOf(w))["faas_gateway_discovery_resyncs_total"], "result")
	if resyncs["success"] < 1 {
		t.Errorf("resyncs = %v, want a success", resyncs)
	}

	fe.SetDown(true)
	eventually(t, 5*time.Second, "the outage in the metrics", func() error {
		if up, errs := value("faas_gateway_docker_api_up"), errorsOf(); up != 0 || errs < 1 {
			return fmt.Errorf("docker_api_up %v, errors %v", up, errs)
		}
		return nil
	})
	if v := statusOf(w); v.DockerAPI.Reachable || v.DockerAPI.LastError == "" {
		t.Errorf("status during the outage = %+v", v.DockerAPI)
	}
	fe.SetDown(false)
	eventually(t, 5*time.Second, "recovery in the metrics", func() error {
		if up := value("faas_gateway_docker_api_up"); up != 1 {
			return fmt.Errorf("docker_api_up %v", up)
		}
		return nil
	})
}

// eventually retries f until it succeeds or within passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoutesView checks the routes API's answer for a few tables.
func TestRoutesView(t *testing.T) {
	tests := []struct {
		name          string
		extra         []swarm.Service
		addrs         []string
		wantRoutes    []routeView
		wantNotRouted []string // service/route: reason
	}{
		{
			name:  "two replicas",
			addrs: []string{"10.0.1.11", "10.0.1.10"},
			wantRoutes: []routeView{{Engine: defaultEngineName, Prefix: "/s", Service: "s", Strip: true, Requests: zeroClasses(), Replicas: []replicaView{
				{Task: "s.2", TaskID: "s-10.0.1.10", Address: "10.0.1.10:8080"},
				{Task: "s.1", TaskID: "s-10.0.1.11", Address: "10.0.1.11:8080"},
			}}},
			wantNotRouted: []string{},
		},
		{
			name:  "a host route, a bad label and a claimed prefix",
			addrs: []string{"10.0.1.10"},
			extra: []swarm.Service{
				fake.Service("web", fake.Enabled("faas.host", "web.test", "faas.strip_prefix", "false")),
				fake.Service("badport", fake.ServiceLabels("faas.enable", "true", "faas.port", "http")),
				fake.Service("dup", fake.Enabled("faas.path", "/s"), fake.ServiceCreated(time.Hour)),
			},
			wantRoutes: []routeView{
				{Engine: defaultEngineName, Prefix: "/s", Service: "s", Strip: true, Requests: zeroClasses(), Replicas: []replicaView{
					{Task: "s.1", TaskID: "s-10.0.1.10", Address: "10.0.1.10:8080"},
				}},
				{Engine: defaultEngineName, Host: "web.test", Prefix: "/", Service: "web", Requests: zeroClasses(), Replicas: []replicaView{}},
			},
			wantNotRouted: []string{"badport/: labels", "dup/: claimed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fake.Watcher(discovery.Options{})
			st := metricsState(time.Now(), tt.addrs...)
			st.Services = append(st.Services, tt.extra...)
			publish(w, st)
			v := routesOf(w, nil)
			if !slices.EqualFunc(v.Routes, tt.wantRoutes, func(a, b routeView) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
				t.Errorf("routes =\n%+v\nwant\n%+v", v.Routes, tt.wantRoutes)
			}
			got := []string{}
			for _, p := range v.NotRouted {
				if p.Message == "" {
					t.Errorf("no message for %+v", p)
				}
				got = append(got, p.Service+"/"+p.Route+": "+p.Reason)
			}
			if !slices.Equal(got, tt.wantNotRouted) {
				t.Errorf("not routed = %v, want %v", got, tt.wantNotRouted)
			}
		})
	}
}

func zeroClasses() map[string]uint64 {
	m := make(map[string]uint64)
	for _, c := range routing.StatusClasses {
		m[c] = 0
	}
	return m
}

// TestDocsListEveryMetric holds the table of metrics in
// docs/observability.md (linked from the README) to what the collector
// describes.
func TestDocsListEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc, 32)
	new(collector).Describe(descs)
	close(descs)
	n := 0
	for d := range descs {
		n++
		name := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(d.String())[1]
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("docs/observability.md's table lacks %s", name)
		}
	}
	if got := strings.Count(string(readme), "| `faas_gateway_"); got != n {
		t.Errorf("docs/observability.md lists %d metrics, the collector %d", got, n)
	}
}
