package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

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
