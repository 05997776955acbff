package swarmsource

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/swarm"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Tests of the watcher against a Docker API that misbehaves: slow, deaf,
// panicking, or asked too often.

// TestWatcherSlowAPI is issue 9, defect 7: each call has its own time
// limit, so an engine slow on every call still converges, and a call over
// the limit is logged with its endpoint.
func TestWatcherSlowAPI(t *testing.T) {
	tests := []struct {
		name     string
		delay    time.Duration
		wantWarn string // "" for routes served
	}{
		{name: "each call within the limit, all three over it", delay: 150 * time.Millisecond},
		{name: "a call over the limit", delay: 600 * time.Millisecond, wantWarn: "GET /services: no answer within api_timeout 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := fake.NewEngine(t)
			fe.Seed(nil, "10.0.1.10")
			fe.Delay = tt.delay
			d := testOptions(fe)
			d.APITimeout = 300 * time.Millisecond
			w, logs := startTestWatcher(t, fe, d)
			if tt.wantWarn == "" {
				fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
				return
			}
			waitLog(t, logs, "docker api unreachable; serving the last known routes and retrying", 5*time.Second)
			warn := logs.FilterMessage("docker api unreachable; serving the last known routes and retrying").All()[0]
			if err := warn.ContextMap()["error"]; !strings.Contains(err.(string), tt.wantWarn) {
				t.Errorf("warning says %q, want it to contain %q", err, tt.wantWarn)
			}
		})
	}
}

// TestWatcherReopensDeafStream is issue 9, defect 8: an event stream that
// opens but never delivers, while listings show services changing, is
// reported once and reopened.
func TestWatcherReopensDeafStream(t *testing.T) {
	const deafMsg = "docker event stream is silent although services changed; reopening it"
	fe := fake.NewEngine(t)
	fe.DeafEvents = true
	_, logs := watchResyncing(t, fe, 100*time.Millisecond)

	// Nothing changes: a quiet stream is not a deaf one.
	time.Sleep(500 * time.Millisecond)
	if n := logs.FilterMessage(deafMsg).Len(); n != 0 {
		t.Fatalf("a quiet stream over a steady swarm was reported deaf %d times", n)
	}
	opened := fe.CallCount("GET /events")

	// A service update the stream does not announce.
	fe.Quietly(func(fe *fake.Engine) {
		fe.Seed(nil, "10.0.1.11")
		fe.Services[0].Version.Index = 7
	})
	waitLog(t, logs, deafMsg, 2*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for fe.CallCount("GET /events") <= opened {
		if time.Now().After(deadline) {
			t.Fatal("the deaf stream was not reopened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fe.Quietly(func(fe *fake.Engine) { fe.Services[0].Version.Index = 8 })
	time.Sleep(time.Second)
	if n := logs.FilterMessage(deafMsg).Len(); n != 1 {
		t.Errorf("deaf stream reported %d times, want once", n)
	}
}

// TestWatcherHealthyStreamIsNotDeaf: changes announced by events never
// make the stream look deaf.
func TestWatcherHealthyStreamIsNotDeaf(t *testing.T) {
	fe := fake.NewEngine(t)
	_, logs := watchResyncing(t, fe, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	for i := range 10 {
		fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
		time.Sleep(time.Duration(i*20) * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("warnings with a healthy event stream: %v", logs.FilterLevelExact(zap.WarnLevel).All())
	}
}

// TestKicksAreBoundedPerService is issue 9, defect 9: requests that keep
// failing cause at most one re-list per service per second, of that
// service's tasks only, and none for a service scaled to zero or one the
// watcher already re-lists because it converges.
func TestKicksAreBoundedPerService(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	fe.Services = append(fe.Services,
		fake.Service("zero", fake.Enabled(), fake.ServiceReplicas(0)),
	)
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	// The event stream opens after the first listing, and a second listing
	// follows: wait for it, so that only the kicks cause what comes next.
	waitStreamListing(t, fe)

	n := fe.CallTotal()
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; time.Sleep(5 * time.Millisecond) {
		w.Kick("s")
		w.Kick("zero")
		w.Kick("unknown")
	}
	time.Sleep(100 * time.Millisecond)
	var forS int
	for _, c := range fe.CallsSince(n) {
		switch {
		case strings.HasPrefix(c, "GET /tasks") && strings.Contains(c, `"service":{"s":true}`):
			forS++
		default:
			t.Errorf("failing requests caused the call %s", c)
		}
	}
	if forS < 1 || forS > 2 {
		t.Errorf("1.5s of failing requests to s caused %d re-lists of its tasks, want 1 or 2", forS)
	}
}

// TestWatcherSurvivesPanic: a listing that panics (an engine answer the
// code does not expect) is logged with its stack and retried; the watcher
// does not freeze.
func TestWatcherSurvivesPanic(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	d := testOptions(fe)
	w, logs := startWatcher(t, testSource(&panicOnce{dockerAPI: testClient(t, d)}, d))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	if n := logs.FilterMessage("listing the swarm panicked; retrying").Len(); n != 1 {
		t.Errorf("panic logged %d times, want once", n)
	}
}

// panicOnce is a Docker API whose first service listing panics.
type panicOnce struct {
	dockerAPI
	done atomic.Bool
}

func (p *panicOnce) ServiceList(ctx context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	if p.done.CompareAndSwap(false, true) {
		var s *swarm.Service
		_ = s.Spec.Name // nil pointer dereference
	}
	return p.dockerAPI.ServiceList(ctx, o)
}

// TestWatcherServiceRemovedMidListing: a service removed between the
// service and the task listing makes dockerd refuse the task listing with
// 404; the listing is retried at once, not failed.
func TestWatcherServiceRemovedMidListing(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	fe.Services = append(fe.Services, fake.Service("gone", fake.Enabled("faas.path", "/gone")))
	d := testOptions(fe)
	w, logs := startWatcher(t, testSource(&removeAfterListing{dockerAPI: testClient(t, d), fe: fe, id: "gone"}, d))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	var first []string
	for _, c := range fe.CallsSince(0)[:6] {
		call, _, _ := strings.Cut(c, "?")
		first = append(first, call)
	}
	// The refused task listing, then the retry of the whole listing.
	if want := []string{"HEAD /_ping", "GET /services", "GET /tasks", "GET /services", "GET /tasks", "GET /networks"}; !slices.Equal(first, want) {
		t.Errorf("the first listing made the calls %v, want %v", first, want)
	}
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("warnings: %v", logs.FilterLevelExact(zap.WarnLevel).All())
	}
}

// removeAfterListing is a Docker API on which service id is removed just
// after the first service listing has shown it.
type removeAfterListing struct {
	dockerAPI
	fe   *fake.Engine
	id   string
	done atomic.Bool
}

func (r *removeAfterListing) ServiceList(ctx context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	list, err := r.dockerAPI.ServiceList(ctx, o)
	if r.done.CompareAndSwap(false, true) {
		r.fe.Quietly(func(fe *fake.Engine) {
			fe.Services = slices.DeleteFunc(fe.Services, func(s swarm.Service) bool { return s.ID == r.id })
		})
	}
	return list, err
}

// watchResyncing seeds fe with service s on one replica and watches it,
// resyncing every interval, until the route is there.
func watchResyncing(t *testing.T, fe *fake.Engine, every time.Duration) (*discovery.Watcher, *observer.ObservedLogs) {
	t.Helper()
	fe.Seed(nil, "10.0.1.10")
	d := testOptions(fe)
	d.ResyncInterval = every
	w, logs := startTestWatcher(t, fe, d)
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	return w, logs
}

// waitLog waits until msg has been logged.
func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for logs.FilterMessage(msg).Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged within %v; logged: %v", msg, within, logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherOffOnPlainEngine: on an engine that is no swarm manager, the
// swarm source turns itself off: ready with no route, one info log, no
// warning, no API error, and no retry faster than the resync interval; it
// routes the services once the engine is a manager.
func TestWatcherOffOnPlainEngine(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	fe.NotManager = true
	d := testOptions(fe)
	d.ResyncInterval = 300 * time.Millisecond
	w, logs := startTestWatcher(t, fe, d)
	select {
	case <-w.Ready():
	case <-time.After(3 * time.Second):
		t.Fatal("not ready 3s after a plain engine answered")
	}
	if n := w.Table().Len(); n != 0 {
		t.Errorf("%d routes on a plain engine, want none", n)
	}
	time.Sleep(time.Second)
	if n := fe.CallCount("GET /services"); n < 2 || n > 5 {
		t.Errorf("GET /services called %d times in about 1s at a 300ms resync interval, want 2 to 5", n)
	}
	if n := logs.FilterMessage("docker engine is no swarm manager: no swarm service to route; checking again every resync_interval").Len(); n != 1 {
		t.Errorf("turning off logged %d times, want once", n)
	}
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("warnings on a plain engine: %v", logs.FilterLevelExact(zap.WarnLevel).All())
	}
	if errs, _ := w.Stats().ErrorCounts(); len(errs) != 0 {
		t.Errorf("API errors counted on a plain engine: %v", errs)
	}
	if _, failed := w.Stats().Resyncs(); failed != 0 {
		t.Errorf("%d failed resyncs counted on a plain engine", failed)
	}

	fe.Quietly(func(fe *fake.Engine) { fe.NotManager = false })
	fake.WaitUpstreams(t, w, 2*time.Second, "10.0.1.10:8080")
	waitLog(t, logs, "docker engine is a swarm manager now: routing its services", time.Second)
}
