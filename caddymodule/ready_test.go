package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// readyFixture is a fake swarm with one service, solo, on /solo, and the
// gateway's Caddyfile in front of it, with swarm_ready on /ready.
type readyFixture struct {
	fe     *fake.Engine
	listen int
	base   string
}

func newReadyFixture(t *testing.T) *readyFixture {
	port := startBackends(t, "127.0.0.50")
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{fake.Service("solo", fake.Enabled("faas.port", fmt.Sprint(port)))}
	fe.Tasks = []swarm.Task{fake.Task("solo", "127.0.0.50")}
	listen := freePort(t)
	return &readyFixture{fe: fe, listen: listen, base: fmt.Sprintf("http://127.0.0.1:%d", listen)}
}

// config is the gateway's Caddyfile with these global options, discovery
// options (for all three modules) and swarm_route options.
func (rf *readyFixture) config(t *testing.T, global, discovery, route string) []byte {
	return adaptCaddyfile(t, fmt.Sprintf(`{
		admin off
		persist_config off
		%[1]s
	}
	:%[2]d {
		handle /ready {
			swarm_ready {
				docker_host %[3]s
				%[4]s
			}
		}
		swarm_route {
			docker_host %[3]s
			%[4]s
			%[5]s
		}
		reverse_proxy {
			dynamic swarm {
				docker_host %[3]s
				%[4]s
			}
		}
	}`, global, rf.listen, rf.fe.Host(), discovery, route))
}

// answer is one response, or the error of a request that got none.
type answer struct {
	code       int
	body       string
	retryAfter string
	close      bool // the server closes the connection after it
	took       time.Duration
	err        error
}

func (rf *readyFixture) get(path string) answer {
	start := time.Now()
	var reused bool
	req, _ := http.NewRequest(http.MethodGet, rf.base+path, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = reused || i.Reused }}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: fmt.Errorf("reused=%v: %w", reused, err), took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(b), retryAfter: resp.Header.Get("Retry-After"),
		close: resp.Close, took: time.Since(start)}
}

// waitFor polls path until it answers code.
func (rf *readyFixture) waitFor(t *testing.T, path string, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		a := rf.get(path)
		if a.code == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q (%v), want %d within %v", path, a.code, a.body, a.err, code, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// burst sends n requests for path, one every gap, concurrently, and
// returns their answers.
func (rf *readyFixture) burst(path string, n int, gap time.Duration) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = rf.get(path)
		}()
		time.Sleep(gap)
	}
	wg.Wait()
	return out
}

// TestRouteWaitsForFirstSync is issue 13's "ready before it routes": until
// the first listing, a request neither gets a 404 nor waits forever.
func TestRouteWaitsForFirstSync(t *testing.T) {
	t.Run("first listing answered late", func(t *testing.T) {
		rf := newReadyFixture(t)
		rf.fe.Delay = 300 * time.Millisecond // a full listing takes three calls: about 0.9s
		loadCaddy(t, rf.config(t, "", "", ""))
		if a := rf.get("/ready"); a.code != http.StatusServiceUnavailable {
			t.Errorf("GET /ready before the first listing = %d %q, want 503", a.code, a.body)
		}
		for i, a := range rf.burst("/solo/", 10, 50*time.Millisecond) {
			if a.code != http.StatusOK {
				t.Errorf("request %d = %d %q (%v) after %v, want 200 once the listing is in", i, a.code, a.body, a.err, a.took)
			}
		}
		if a := rf.get("/ready"); a.code != http.StatusOK {
			t.Errorf("GET /ready after the first listing = %d %q, want 200", a.code, a.body)
		}
		if a := rf.get("/nobody/"); a.code != http.StatusNotFound {
			t.Errorf("GET /nobody/ after the first listing = %d %q, want 404", a.code, a.body)
		}
	})

	t.Run("docker down at start", func(t *testing.T) {
		rf := newReadyFixture(t)
		rf.fe.SetDown(true)
		loadCaddy(t, rf.config(t, "", "", "ready_timeout 300ms"))
		for _, path := range []string{"/solo/", "/nobody/"} {
			a := rf.get(path)
			if a.code != http.StatusServiceUnavailable || a.retryAfter == "" || a.took < 300*time.Millisecond {
				t.Errorf("GET %s with Docker down = %d %q, Retry-After %q, after %v; want 503 with Retry-After after ready_timeout 300ms",
					path, a.code, a.body, a.retryAfter, a.took)
			}
		}
		if a := rf.get("/ready"); a.code != http.StatusServiceUnavailable || a.took > time.Second {
			t.Errorf("GET /ready with Docker down = %d %q after %v, want 503 at once", a.code, a.body, a.took)
		}
		rf.fe.SetDown(false)
		rf.waitFor(t, "/solo/", http.StatusOK, 5*time.Second)
		rf.waitFor(t, "/ready", http.StatusOK, time.Second)
	})

	t.Run("reload starts a new watcher", func(t *testing.T) {
		rf := newReadyFixture(t)
		loadCaddy(t, rf.config(t, "", "", ""))
		// Ready, not /solo/: see TestReadyDuringShutdown on reverse_proxy.
		rf.waitFor(t, "/ready", http.StatusOK, 5*time.Second)

		rf.fe.Quietly(func(fe *fake.Engine) { fe.Delay = 300 * time.Millisecond })
		// New discovery options: a new watcher, which has listed nothing.
		if err := caddy.Load(rf.config(t, "", "resync_interval 20s", ""), true); err != nil {
			t.Fatal(err)
		}
		var waited bool
		for i, a := range rf.burst("/solo/", 10, 50*time.Millisecond) {
			if a.code != http.StatusOK {
				t.Errorf("request %d after the reload = %d %q (%v), want 200", i, a.code, a.body, a.err)
			}
			waited = waited || a.took > 200*time.Millisecond
		}
		if !waited {
			t.Error("no request waited for the new watcher's first listing")
		}
	})
}

// TestReadyDuringShutdown checks swarm_ready and swarm_route through
// Caddy's shutdown_delay: not ready at once, still answering (each
// response closing its connection), then closed.
//
// It sends nothing through reverse_proxy: the swarm source's Cleanup
// clears its watcher (discovery.go, Cleanup) while a stopping config's
// requests may still read it, which the race detector reports whenever
// Cleanup wins the race with the server's shutdown. swarm_route's answers
// for a path nobody claims go through the same code.
func TestReadyDuringShutdown(t *testing.T) {
	const delay = time.Second
	rf := newReadyFixture(t)
	loadCaddy(t, rf.config(t, "shutdown_delay 1s\ngrace_period 2s", "", ""))
	rf.waitFor(t, "/ready", http.StatusOK, 5*time.Second)
	if a := rf.get("/nobody/"); a.code != http.StatusNotFound || a.close {
		t.Fatalf("GET /nobody/ while running = %d %q, closing %v; want 404 on a kept-alive connection", a.code, a.body, a.close)
	}

	stopping := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = caddy.Stop() // as on SIGTERM: it waits shutdown_delay, then drains
	}()
	rf.waitFor(t, "/ready", http.StatusServiceUnavailable, delay/2)
	if a := rf.get("/ready"); !strings.Contains(a.body, "shutting down") || !a.close {
		t.Errorf("GET /ready while shutting down = %d %q, closing %v; want 503 shutting down, closing", a.code, a.body, a.close)
	}
	if a := rf.get("/nobody/"); a.code != http.StatusNotFound || !a.close {
		t.Errorf("GET /nobody/ during shutdown_delay = %d %q (%v), closing %v; want 404, closing the connection", a.code, a.body, a.err, a.close)
	}
	<-stopped
	if took := time.Since(stopping); took < delay {
		t.Errorf("Caddy stopped after %v, before shutdown_delay %v", took, delay)
	}
	if a := rf.get("/nobody/"); a.err == nil {
		t.Errorf("GET /nobody/ once stopped = %d, want no answer (the listener is closed)", a.code)
	}
}

// TestReadyCaddyfile checks the readiness options' syntax: ready_timeout
// is swarm_route's own, not a discovery option, so it does not change the
// watcher that swarm_route shares.
func TestReadyCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		wantRoute   time.Duration
		wantErr     string
	}{
		{name: "route default", input: "swarm_route"},
		{name: "route timeout", input: "swarm_route {\n ready_timeout 2s\n}", wantRoute: 2 * time.Second},
		{name: "route bad timeout", input: "swarm_route {\n ready_timeout soon\n}", wantErr: "parsing duration"},
		{name: "ready plain", input: "swarm_ready"},
		{name: "ready discovery option", input: "swarm_ready {\n label_prefix x\n}"},
		{name: "ready takes no timeout", input: "swarm_ready {\n ready_timeout 2s\n}", wantErr: "unrecognized swarm option"},
		{name: "upstreams take no timeout", input: "swarm {\n ready_timeout 2s\n}", wantErr: "unrecognized swarm option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.input)
			var (
				err   error
				route SwarmRoute
			)
			switch {
			case strings.HasPrefix(tt.input, "swarm_route"):
				err = route.UnmarshalCaddyfile(d)
			case strings.HasPrefix(tt.input, "swarm_ready"):
				err = new(SwarmReady).UnmarshalCaddyfile(d)
			default:
				err = new(SwarmUpstreams).UnmarshalCaddyfile(d)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(route.ReadyTimeout) != tt.wantRoute {
				t.Errorf("ready_timeout = %v, want %v", time.Duration(route.ReadyTimeout), tt.wantRoute)
			}
		})
	}

	var a, b SwarmRoute
	b.ReadyTimeout = 1
	if a.key() != b.key() {
		t.Error("ready_timeout changes the watcher's key")
	}
	neg := SwarmRoute{ReadyTimeout: -1}
	if err := neg.Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), "ready_timeout") {
		t.Errorf("Provision with a negative ready_timeout = %v, want an error", err)
	}
}
