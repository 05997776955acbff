package caddymodule

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/docker/docker/api/types/container"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// TestEnginesCaddyfile: engine subdirectives give one engine each, in
// their order, with their blocks; the defaults of reach and publish_host
// follow the address.
func TestEnginesCaddyfile(t *testing.T) {
	input := `swarm_route {
		engine blue unix:///var/run/docker.sock
		engine green tcp://green:2376 {
			tls_ca /certs/ca.pem
			tls_cert /certs/cert.pem
			tls_key /certs/key.pem
		}
		engine red tcp://10.0.0.9:2375 {
			publish_host red.lan
		}
	}`
	var sr SwarmRoute
	checkEngines(t, &sr, sr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)), []EngineConfig{
		{Name: "blue", DockerHost: "unix:///var/run/docker.sock", Reach: reachNetworks},
		{Name: "green", DockerHost: "tcp://green:2376", TLSCA: "/certs/ca.pem", TLSCert: "/certs/cert.pem", TLSKey: "/certs/key.pem", Reach: reachPublished, PublishHost: "green"},
		{Name: "red", DockerHost: "tcp://10.0.0.9:2375", Reach: reachPublished, PublishHost: "red.lan"},
	})
}

// checkEngines checks that sr, parsed with error err, provisions with
// the engines want.
func checkEngines(t *testing.T, sr *SwarmRoute, err error, want []EngineConfig) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := sr.Discovery.provision(); err != nil {
		t.Fatal(err)
	}
	if got := sr.engineConfigs(); !reflect.DeepEqual(got, want) {
		t.Errorf("engines =\n%+v\nwant\n%+v", got, want)
	}
}

// TestOneEngineIsTheTopLevelOptions: without engines, the top-level
// options are one engine, named default, reached on networks whatever
// its address (a tcp:// docker-api is the gateway's own engine).
func TestOneEngineIsTheTopLevelOptions(t *testing.T) {
	d := Discovery{DockerHost: "tcp://docker-api:2375", TLSCA: "ca.pem"}
	if err := d.provision(); err != nil {
		t.Fatal(err)
	}
	want := []EngineConfig{{Name: defaultEngineName, DockerHost: "tcp://docker-api:2375", TLSCA: "ca.pem", Reach: reachNetworks, fromEnv: true}}
	if got := d.engineConfigs(); !reflect.DeepEqual(got, want) {
		t.Errorf("engines = %+v, want %+v", got, want)
	}
}

// TestEnginesValidate: every wrong engines option fails provisioning with
// an error that names it.
func TestEnginesValidate(t *testing.T) {
	blue := EngineConfig{Name: "blue", DockerHost: "unix:///var/run/docker.sock"}
	green := EngineConfig{Name: "green", DockerHost: "tcp://green:2376"}
	for _, tt := range []struct {
		name    string
		d       Discovery
		wantErr string
	}{
		{"docker_host and engines", Discovery{DockerHost: "tcp://x:2375", Engines: []EngineConfig{green}}, "docker_host and tls_*"},
		{"tls_ca and engines", Discovery{TLSCA: "ca.pem", Engines: []EngineConfig{green}}, "docker_host and tls_*"},
		{"duplicate name", Discovery{Engines: []EngineConfig{green, green}}, `engine "green" given twice`},
		{"upper-case name", Discovery{Engines: []EngineConfig{{Name: "Blue", DockerHost: "tcp://b:2375"}}}, `engine "Blue": a name is`},
		{"empty name", Discovery{Engines: []EngineConfig{{DockerHost: "tcp://b:2375"}}}, `engine "": a name is`},
		{"no address", Discovery{Engines: []EngineConfig{{Name: "b"}}}, `engine "b": docker_host ""`},
		{"cert without key", Discovery{Engines: []EngineConfig{{Name: "b", DockerHost: "tcp://b:2375", TLSCert: "c.pem"}}}, `engine "b": tls_cert and tls_key`},
		{"bad reach", Discovery{Engines: []EngineConfig{{Name: "b", DockerHost: "tcp://b:2375", Reach: "mesh"}}}, `reach "mesh"`},
		{"publish_host on networks", Discovery{Engines: []EngineConfig{{Name: "b", DockerHost: "tcp://b:2375", Reach: reachNetworks, PublishHost: "b"}}}, "publish_host is for reach published"},
		{"published unix socket without host", Discovery{Engines: []EngineConfig{{Name: "b", DockerHost: "unix:///run/docker.sock", Reach: reachPublished}}}, "needs publish_host"},
		{"two on networks", Discovery{Engines: []EngineConfig{blue, {Name: "local2", DockerHost: "unix:///run/user/docker.sock"}}}, "engines blue, local2 are all reached on networks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.d.provision(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("provision() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	ok := Discovery{Engines: []EngineConfig{blue, green}}
	if err := ok.provision(); err != nil {
		t.Errorf("a valid pair of engines: %v", err)
	}
}

// TestEnginesCaddyfileErrors: the engine subdirective's syntax errors.
func TestEnginesCaddyfileErrors(t *testing.T) {
	for _, tt := range []struct{ input, wantErr string }{
		{"swarm {\n engine blue\n}", "wrong argument count"},
		{"swarm {\n engine blue unix:///x extra\n}", "wrong argument count"},
		{"swarm {\n engine blue tcp://b:1 {\n bogus 1\n }\n}", "engine blue: unrecognized option 'bogus'"},
		{"swarm {\n engine blue tcp://b:1 {\n tls_ca a\n tls_ca b\n }\n}", "engine blue: option 'tls_ca' has already been specified"},
	} {
		var d Discovery
		if err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q: error %v, want %q", tt.input, err, tt.wantErr)
		}
	}
}

// TestEnginesShareOneWatcherSet: modules given the same engines share a
// key, and so one watcher; another engine list is another key.
func TestEnginesShareOneWatcherSet(t *testing.T) {
	mk := func(hosts ...string) Discovery {
		d := Discovery{}
		for i, h := range hosts {
			d.Engines = append(d.Engines, EngineConfig{Name: string(rune('a' + i)), DockerHost: h})
		}
		if err := d.provision(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := mk("unix:///x", "tcp://g:2376"), mk("unix:///x", "tcp://g:2376")
	if a.key() != b.key() {
		t.Error("equal engines give different keys")
	}
	if c := mk("unix:///x", "tcp://h:2376"); c.key() == a.key() {
		t.Error("different engines give one key")
	}
}

// TestTwoEngines: one gateway reads a swarm engine (its own, reached on
// networks) and a plain engine (another, reached on published ports),
// whose networks have the same ID and subnet. Each route goes to its
// engine; an engine that hangs, then fails, keeps its routes while the
// other's changes are still routed within a second; back, its changes are
// seen again.
func TestTwoEngines(t *testing.T) {
	blue, green := fake.NewEngine(t), fake.NewEngine(t)
	blue.Seed(nil, "10.0.1.10")
	green.NotManager = true
	green.Networks = blue.Networks // the same ID and subnet: only the engine tells them apart
	green.Containers = []container.Summary{fake.Container("g1", "hello", "10.0.1.10", 0, fake.ContainerPublishes("0.0.0.0", 8080, 32768))}
	d := Discovery{
		Engines: []EngineConfig{
			{Name: "blue", DockerHost: blue.Host(), Reach: reachNetworks},
			{Name: "green", DockerHost: green.Host()}, // tcp://127.0.0.1:port: published, at 127.0.0.1
		},
		ResyncInterval: caddy.Duration(100 * time.Millisecond),
		APITimeout:     caddy.Duration(5 * time.Second),
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	if err := d.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Cleanup() })
	w := d.watcher
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready within 5s")
	}
	routeOf := func(prefix string) (engine string, ups []string) {
		if r := w.Table().Lookup("", prefix); r != nil {
			return r.Sides[0].Engine, r.Sides[0].Upstreams
		}
		return "", nil
	}
	if e, ups := routeOf("/s"); e != "blue" || !slices.Equal(ups, []string{"10.0.1.10:8080"}) {
		t.Errorf("/s: engine %q, upstreams %v; want blue, its task's address", e, ups)
	}
	if e, ups := routeOf("/hello"); e != "green" || !slices.Equal(ups, []string{"127.0.0.1:32768"}) {
		t.Errorf("/hello: engine %q, upstreams %v; want green, its published port at its host", e, ups)
	}
	// The routes API, the status and the metrics name each route's engine.
	gotEngines := make(map[string]string)
	for _, r := range routesOf(w, nil).Routes {
		gotEngines[r.Prefix] = r.Engine
	}
	if want := map[string]string{"/s": "blue", "/hello": "green"}; !maps.Equal(gotEngines, want) {
		t.Errorf("routes API engines %v, want %v", gotEngines, want)
	}
	if st := statusOf(w); len(st.Engines) != 2 || st.Engines[0].Name != "blue" || st.Engines[1].Name != "green" ||
		!st.Engines[1].FirstSyncDone || st.Engines[1].DockerAPI.Host != green.Host() || st.DockerAPI.Host != blue.Host() {
		t.Errorf("status = %+v, want blue's API at the top level and both engines listed", st)
	}
	if got, want := seriesBy(gather(t, collectorOf(w))["faas_gateway_route_engine"], "service", "engine"), map[string]float64{"s,blue": 1, "hello,green": 1}; !maps.Equal(got, want) {
		t.Errorf("route_engine = %v, want %v", got, want)
	}

	blueChange := func(addrs ...string) {
		t.Helper()
		blue.WaitSubscribed(t)
		blue.Update(func(fe *fake.Engine) {
			fe.Seed(nil, addrs...)
		})
		want := make([]string, len(addrs))
		for i, a := range addrs {
			want[i] = a + ":8080"
		}
		fake.WaitUpstreams(t, w, time.Second, want...)
	}
	// Green hangs: every answer takes 3s. Blue's change is routed at once.
	green.Quietly(func(fe *fake.Engine) { fe.Delay = 3 * time.Second })
	time.Sleep(200 * time.Millisecond) // a green listing is under way
	blueChange("10.0.1.10", "10.0.1.11")
	// Green fails: its route stays, and blue's changes are still routed.
	green.Quietly(func(fe *fake.Engine) { fe.Delay = 0 })
	green.SetDown(true)
	for deadline := time.Now().Add(5 * time.Second); !w.Engines()[1].Stats.APIDown(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("green not seen down within 5s")
		}
	}
	blueChange("10.0.1.12")
	if e, ups := routeOf("/hello"); e != "green" || len(ups) != 1 {
		t.Errorf("/hello while green is down: engine %q, upstreams %v; want its last route", e, ups)
	}
	// The listing green hung on (3s) may still end well after it went
	// down, and mark it up until its next call fails: wait for that.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mfs := gather(t, collectorOf(w))
		got, want := seriesBy(mfs["faas_gateway_engine_api_up"], "engine"), map[string]float64{"blue": 1, "green": 0}
		up := seriesBy(mfs["faas_gateway_docker_api_up"])[""]
		if maps.Equal(got, want) && up == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("engine_api_up = %v, want %v; docker_api_up = %v with green down, want 0 (every engine's API answers)", got, want, up)
			break
		}
	}
	// Green is back: its changes are seen again.
	green.Quietly(func(fe *fake.Engine) {
		fe.Containers = append(fe.Containers, fake.Container("g2", "hello2", "10.0.1.11", 0, fake.ContainerPublishes("0.0.0.0", 8080, 32769)))
	})
	green.SetDown(false)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if e, ups := routeOf("/hello2"); e == "green" && slices.Equal(ups, []string{"127.0.0.1:32769"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("green's new container is not routed within 5s of its return")
		}
	}
}

// TestOneEngineViews: with one engine, the routes API names it default
// in a field always present, and the metrics keep their series without
// an engine label (the engine is told apart in new series only).
func TestOneEngineViews(t *testing.T) {
	w := fake.Watcher(discovery.Options{})
	st := metricsState(time.Now(), "10.0.1.10")
	st.Services = append(st.Services, fake.Service("dup", fake.Enabled("faas.path", "/s"), fake.ServiceCreated(time.Hour)))
	publish(w, st)
	b, err := json.Marshal(routesOf(w, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"routes":[{"engine":"default","host":""`, `"not_routed":[{"engine":"default","service":"dup"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("routes API %s lacks %s", b, want)
		}
	}
	mfs := gather(t, collectorOf(w))
	for _, name := range []string{"faas_gateway_requests_total", "faas_gateway_replicas", "faas_gateway_docker_api_up", "faas_gateway_discovery_resyncs_total"} {
		for _, m := range mfs[name].GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "engine" {
					t.Errorf("%s has an engine label", name)
				}
			}
		}
	}
	if got := seriesBy(mfs["faas_gateway_route_engine"], "service", "engine"); !maps.Equal(got, map[string]float64{"s,default": 1}) {
		t.Errorf("route_engine = %v, want s on default", got)
	}
	if v := statusOf(w); len(v.Engines) != 1 || v.Engines[0].Name != "default" {
		t.Errorf("status engines = %+v, want default alone", v.Engines)
	}
}

// TestPartialTableBeforeSync: before every engine has listed once (one
// is down at start), a request that the routes listed so far claim is
// served at once; one they do not claim waits ready_timeout, then gets a
// 503, not a 404.
func TestPartialTableBeforeSync(t *testing.T) {
	w := discovery.NewEngines([]discovery.EngineSources{
		{Name: "blue", Sources: []discovery.Source{fake.Source{}}},
		{Name: "green", Sources: []discovery.Source{fake.Source{}}}, // never lists
	}, discovery.Options{})
	publish(w, metricsState(time.Now(), "10.0.1.10")) // blue's: /s
	sr := &SwarmRoute{NoMetrics: true, ReadyTimeout: caddy.Duration(200 * time.Millisecond)}
	sr.watcher = w
	served := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { served = true; return nil })

	start := time.Now()
	rec := httptest.NewRecorder()
	if err := sr.ServeHTTP(rec, httptest.NewRequest("GET", "/s/x", nil), next); err != nil || !served {
		t.Fatalf("/s/x: served %v, error %v; want served", served, err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("/s/x waited %v for green, want no wait", took)
	}
	served, start, rec = false, time.Now(), httptest.NewRecorder()
	if err := sr.ServeHTTP(rec, httptest.NewRequest("GET", "/green-app", nil), next); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); served || rec.Code != http.StatusServiceUnavailable || took < 200*time.Millisecond {
		t.Errorf("/green-app: served %v, status %d after %v; want 503 after ready_timeout (200ms)", served, rec.Code, took)
	}
}

// TestEnginesJSON: the JSON form takes the engines under the keys
// docs/engines.md gives, with the Caddyfile's defaults.
func TestEnginesJSON(t *testing.T) {
	var sr SwarmRoute
	raw := `{"engines": [{"name": "blue", "docker_host": "unix:///var/run/docker.sock"},
		{"name": "green", "docker_host": "tcp://green:2376", "tls_ca": "/certs/ca.pem", "tls_cert": "/certs/cert.pem", "tls_key": "/certs/key.pem", "publish_host": "10.0.0.5"}]}`
	checkEngines(t, &sr, json.Unmarshal([]byte(raw), &sr), []EngineConfig{
		{Name: "blue", DockerHost: "unix:///var/run/docker.sock", Reach: reachNetworks},
		{Name: "green", DockerHost: "tcp://green:2376", TLSCA: "/certs/ca.pem", TLSCert: "/certs/cert.pem", TLSKey: "/certs/key.pem", Reach: reachPublished, PublishHost: "10.0.0.5"},
	})
}
