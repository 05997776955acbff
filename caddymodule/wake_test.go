package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// sleepyFixture is readyFixture's swarm with a second service, sleepy on
// /sleepy, scaled by label and asleep (0 replicas), whose replica runs
// at 127.0.0.51 startAfter its scale call when start is set.
func sleepyFixture(t *testing.T, start bool, startAfter time.Duration) *readyFixture {
	rf := newReadyFixture(t)
	port := startBackends(t, "127.0.0.51")
	sleepy := fake.Service("sleepy", fake.Enabled("faas.port", fmt.Sprint(port), "faas.scale.max", "3", "faas.scale.idle", "1m"), fake.ServiceReplicas(0))
	rf.fe.Services = append(rf.fe.Services, sleepy)
	if start {
		rf.fe.OnScale = func(id string, n uint64) {
			go func() {
				time.Sleep(startAfter) // the engine's cold start
				rf.fe.UpdateService(id, func(fe *fake.Engine) {
					fe.Tasks = append(fe.Tasks, fake.Task(id, "127.0.0.51"))
				})
			}()
		}
	}
	return rf
}

// scaledView returns the routes API's scaling view of service.
func scaledView(t *testing.T, service string) *scalingView {
	t.Helper()
	for _, r := range routesOf(describedWatcher(), describedScaler()).Routes {
		if r.Service == service {
			return r.Scaling
		}
	}
	t.Fatalf("no route of %s", service)
	return nil
}

// TestWakeHoldsRequests is issue 25's wake at module level: a burst of
// 100 first requests for a sleeping service makes one scale call, to its
// minimum awake (1), every request waits for the replica and gets 200,
// and the routes API shows the service waking, then awake.
func TestWakeHoldsRequests(t *testing.T) {
	rf := sleepyFixture(t, true, 400*time.Millisecond)
	loadCaddy(t, rf.config(t, "", "", ""))
	rf.waitFor(t, "/solo/", http.StatusOK, 5*time.Second)
	if v := scaledView(t, "sleepy"); v == nil || v.State != scaling.StateSleeping || v.Desired != 0 || v.Max != 3 || v.Idle != "1m0s" {
		t.Fatalf("before the wake: %+v, want sleeping at 0, max 3, idle 1m", v)
	}
	if v := scaledView(t, "solo"); v != nil {
		t.Errorf("solo has no scaling label, yet shows %+v", v)
	}

	answers := make([]answer, 100)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = rf.get("/sleepy/") }()
	}
	time.Sleep(200 * time.Millisecond)
	if v := scaledView(t, "sleepy"); v.State != scaling.StateWaking {
		t.Errorf("during the wake: state %q, want waking", v.State)
	}
	wg.Wait()
	for i, a := range answers {
		if a.code != http.StatusOK || !strings.Contains(a.body, "127.0.0.51") {
			t.Errorf("request %d = %d %q (%v) after %v, want 200 from the woken replica", i, a.code, a.body, a.err, a.took)
		}
	}
	if calls := rf.fe.ScaleCalls(); len(calls) != 1 || calls[0] != "sleepy=1" {
		t.Errorf("scale calls %q, want one: sleepy=1", calls)
	}
	if v := scaledView(t, "sleepy"); v.State != scaling.StateAwake || v.Running != 1 || v.Desired != 1 {
		t.Errorf("after the wake: %+v, want awake, 1 of 1", v)
	}
	if a := rf.get("/solo/"); a.code != http.StatusOK {
		t.Errorf("an unscaled service: %d %q", a.code, a.body)
	}
}

// TestWakeTimeout checks that a service that does not wake within
// wake_timeout answers 503 with Retry-After, not 404, after one scale
// call for all the requests, and none with scaling off.
func TestWakeTimeout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		discovery string
		wantCalls int
		wantWait  bool
	}{
		{name: "scaling on", wantCalls: 1, wantWait: true},
		{name: "scaling off", discovery: "scaling off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rf := sleepyFixture(t, false, 0)
			loadCaddy(t, rf.config(t, "", tt.discovery, "wake_timeout 300ms"))
			rf.waitFor(t, "/solo/", http.StatusOK, 5*time.Second)
			for i, a := range rf.burst("/sleepy/", 5, 10*time.Millisecond) {
				if a.code != http.StatusServiceUnavailable {
					t.Errorf("request %d = %d %q, want 503", i, a.code, a.body)
				}
				if tt.wantWait && (a.retryAfter == "" || a.took < 250*time.Millisecond || !strings.Contains(a.body, "did not wake within 300ms")) {
					t.Errorf("request %d: Retry-After %q after %v, %q; want a 503 with Retry-After after the wake timeout", i, a.retryAfter, a.took, a.body)
				}
			}
			if calls := rf.fe.ScaleCalls(); len(calls) != tt.wantCalls {
				t.Errorf("scale calls %q, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// TestScaledSideCarriesScaling checks what the swarm source puts on the
// sides of a scaled service, and that one without scaling labels has
// none: no counter, so its requests cost what they did.
func TestScaledSideCarriesScaling(t *testing.T) {
	rf := sleepyFixture(t, false, 0)
	rf.fe.Update(func(fe *fake.Engine) {
		fe.Services[1].Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(2))}
	})
	loadCaddy(t, rf.config(t, "", "", ""))
	rf.waitFor(t, "/solo/", http.StatusOK, 5*time.Second)
	table := describedWatcher().Table()
	solo, sleepy := table.Lookup("", "/solo").Pick(), table.Lookup("", "/sleepy").Pick()
	if solo.Scaling != nil || solo.Load != nil {
		t.Errorf("solo: scaling %+v, load %v; want none", solo.Scaling, solo.Load)
	}
	if sleepy.Scaling == nil || sleepy.Load == nil || sleepy.ServiceID != "sleepy" || sleepy.Desired != 2 || sleepy.Running != 0 ||
		*sleepy.Scaling != (scaling.Spec{Min: 0, Max: 3, Idle: time.Minute, Target: 100}) {
		t.Errorf("sleepy: %+v", sleepy)
	}
}

func ptr[T any](v T) *T { return &v }

// TestWakeTimeoutOption checks wake_timeout in the Caddyfile and in JSON.
func TestWakeTimeoutOption(t *testing.T) {
	var sr SwarmRoute
	if err := sr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("swarm_route {\n wake_timeout 2s\n scaling off\n}")); err != nil {
		t.Fatal(err)
	}
	if sr.WakeTimeout != caddy.Duration(2*time.Second) || sr.Scaling != "off" {
		t.Errorf("wake_timeout %v, scaling %q; want 2s, off", time.Duration(sr.WakeTimeout), sr.Scaling)
	}
	b, err := json.Marshal(sr)
	if err != nil || !strings.Contains(string(b), `"wake_timeout":2000000000`) || !strings.Contains(string(b), `"scaling":"off"`) {
		t.Errorf("JSON %s (%v)", b, err)
	}
	if err := new(SwarmRoute).UnmarshalCaddyfile(caddyfile.NewTestDispenser("swarm_route {\n wake_timeout\n}")); err == nil {
		t.Error("wake_timeout without a value: no error")
	}
}

// recordingScaler records the scale calls the autoscaler makes.
type recordingScaler struct {
	mu    sync.Mutex
	calls []string
}

func (s *recordingScaler) Scale(_ context.Context, _, id string, n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("%s=%d", id, n))
	return nil
}

func (s *recordingScaler) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// TestAwaitWake checks swarm_route's hold at handler level: a request for
// a scaled service with no replica waits for the publish that brings one
// and is then passed on to it, and one whose client leaves first ends
// with 499, as a wait for the first listing does.
func TestAwaitWake(t *testing.T) {
	asleep := benchState(1, 0)
	asleep.Services[0].Spec.Labels["faas.scale.max"] = "2"
	asleep.Services[0].Spec.Labels["faas.scale.idle"] = "1m"
	awake := benchState(1, 1)
	awake.Services[0].Spec.Labels = asleep.Services[0].Spec.Labels
	for _, tt := range []struct {
		name     string
		wakeIn   time.Duration // 0: never
		leaveIn  time.Duration // 0: never
		wantCode int           // of the handler's error, 0 for none
	}{
		{name: "woken", wakeIn: 100 * time.Millisecond},
		{name: "client leaves", leaveIn: 100 * time.Millisecond, wantCode: statusClientClosedRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := fake.Watcher(discovery.Options{})
			publish(w, asleep)
			sc := new(recordingScaler)
			sr := &SwarmRoute{WakeTimeout: caddy.Duration(5 * time.Second)}
			sr.watcher = w
			sr.scaler = scaling.New(scaling.Options{Services: w.Table().ScaledServices, Scaler: sc})
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { defer close(stopped); sr.scaler.Run(ctx) }()
			defer func() { cancel(); <-stopped }()

			reqCtx, leave := context.WithCancel(context.WithValue(context.Background(), caddyhttp.VarsCtxKey, map[string]any{}))
			defer leave()
			if tt.wakeIn > 0 {
				time.AfterFunc(tt.wakeIn, func() { publish(w, awake) })
			}
			if tt.leaveIn > 0 {
				time.AfterFunc(tt.leaveIn, leave)
			}
			req := httptest.NewRequest(http.MethodGet, "/svc00000/x", nil).WithContext(reqCtx)
			var servedBy string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				servedBy = sideFromRequest(r).Upstreams[0]
				return nil
			})
			start := time.Now()
			err := sr.ServeHTTP(httptest.NewRecorder(), req, next)
			var he caddyhttp.HandlerError
			switch {
			case tt.wantCode == 0 && (err != nil || servedBy == ""):
				t.Fatalf("err %v, served by %q; want served once woken", err, servedBy)
			case tt.wantCode != 0 && (!errors.As(err, &he) || he.StatusCode != tt.wantCode):
				t.Fatalf("err %v, want status %d", err, tt.wantCode)
			}
			if took := time.Since(start); took < 80*time.Millisecond || took > 2*time.Second {
				t.Errorf("returned after %v", took)
			}
			if calls := sc.recorded(); len(calls) != 1 || calls[0] != "svc00000=1" {
				t.Errorf("scale calls %q, want svc00000=1", calls)
			}
		})
	}
}
