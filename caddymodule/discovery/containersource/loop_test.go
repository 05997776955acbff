package containersource

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// upstreams are the upstreams of route /w, and whether it is claimed.
func upstreams(w *discovery.Watcher) ([]string, bool) {
	r := w.Table().Lookup("", "/w")
	if r == nil {
		return nil, false
	}
	return r.Sides[0].Upstreams, true
}

func checkUpstreams(t *testing.T, w *discovery.Watcher, want ...string) {
	t.Helper()
	got, ok := upstreams(w)
	if !ok || !slices.Equal(got, want) && len(got)+len(want) > 0 {
		t.Errorf("upstreams of /w = %v (claimed %v), want %v", got, ok, want)
	}
}

// listed returns a loop of a source on a fake engine of the containers,
// after its first full listing, with its watcher, the engine and the
// clock.
func listed(t *testing.T, cs ...container.Summary) (*fakeAPI, *discovery.Watcher, *loop, *clock) {
	t.Helper()
	api := newFakeAPI(cs...)
	w, l, clk, _ := testLoop(t, api)
	l.resync(context.Background())
	return api, w, l, clk
}

func replica(id, addr string, opts ...fake.ContainerOpt) container.Summary {
	return fake.Container(id, "p-w-"+id, addr, 0, append([]fake.ContainerOpt{fake.Compose("p", "w")}, opts...)...)
}

func TestSwarmTaskContainersAreNotRouted(t *testing.T) {
	api := newFakeAPI(
		replica("c1", "10.0.1.11"),
		replica("t1", "10.0.1.21", fake.ContainerLabels("com.docker.swarm.task.id", "x", "com.docker.swarm.service.id", "y")),
		replica("t2", "10.0.1.22", fake.ContainerLabels("com.docker.swarm.service.id", "y")),
	)
	w, l, _, _ := testLoop(t, api)
	l.resync(context.Background())
	checkUpstreams(t, w, "10.0.1.11:8080")
	if !w.Synced() {
		t.Error("a full listing did not make the watcher ready")
	}
}

// TestKillSignals: a kill event takes its container out of the routes at
// once, without waiting for a listing, when its signal is SIGTERM, SIGKILL
// or the container's own stop signal (asked of the engine once); not for
// another signal, nor for a container it does not route.
func TestKillSignals(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		signal    string
		stopSig   string // of the container
		want      []string
		wantCalls []string
	}{
		{"SIGTERM", "c1", "15", "", []string{"10.0.1.12:8080"}, nil},
		{"SIGKILL", "c1", "9", "", []string{"10.0.1.12:8080"}, nil},
		{"SIGHUP: a reload, not a stop", "c1", "1", "", []string{"10.0.1.11:8080", "10.0.1.12:8080"}, []string{"inspect c1"}},
		{"its own stop signal", "c1", "3", "SIGQUIT", []string{"10.0.1.12:8080"}, []string{"inspect c1"}},
		{"its own stop signal by number", "c1", "28", "28", []string{"10.0.1.12:8080"}, []string{"inspect c1"}},
		{"SIGQUIT to a container that stops on SIGTERM", "c1", "3", "", []string{"10.0.1.11:8080", "10.0.1.12:8080"}, []string{"inspect c1"}},
		{"a container not routed", "zz", "3", "", []string{"10.0.1.11:8080", "10.0.1.12:8080"}, nil},
		{"no signal attribute", "c1", "", "", []string{"10.0.1.11:8080", "10.0.1.12:8080"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(replica("c1", "10.0.1.11"), replica("c2", "10.0.1.12"))
			api.stopSig["c1"] = tt.stopSig
			w, l, _, _ := testLoop(t, api)
			ctx := context.Background()
			l.resync(ctx)
			api.takeCalls()
			l.eventsArrived(ctx, event(events.ActionKill, tt.id, "signal", tt.signal))
			checkUpstreams(t, w, tt.want...)
			if got := api.takeCalls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			// The stop signal is asked once per container.
			l.eventsArrived(ctx, event(events.ActionKill, tt.id, "signal", tt.signal))
			if got := api.takeCalls(); len(got) != 0 {
				t.Errorf("the second kill event called %v, want nothing", got)
			}
		})
	}
}

// TestEventsRelistWhatTheyName: an event re-lists the container it names,
// and only it; a container gone keeps its claim (no replica) until a full
// listing holdClaims later finds no container claiming it.
func TestEventsRelistWhatTheyName(t *testing.T) {
	api, w, l, clk := listed(t, replica("c1", "10.0.1.11"), replica("c2", "10.0.1.12"))
	ctx := context.Background()
	checkUpstreams(t, w, "10.0.1.11:8080", "10.0.1.12:8080")
	api.takeCalls()

	api.set(replica("c1", "10.0.1.11", fake.ContainerStatus("Up 1 minute (unhealthy)")), replica("c2", "10.0.1.12"))
	l.eventsArrived(ctx, event("health_status: unhealthy", "c1"))
	checkUpstreams(t, w, "10.0.1.12:8080")
	if got := api.takeCalls(); !slices.Equal(got, []string{"list c1"}) {
		t.Errorf("a health event called %v, want [list c1]", got)
	}

	api.set()
	l.eventsArrived(ctx, event(events.ActionDie, "c2"))
	l.eventsArrived(ctx, event(events.ActionDestroy, "c1"))
	checkUpstreams(t, w) // claimed, no replica: requests wait
	if got := api.takeCalls(); !slices.Equal(got, []string{"list c2", "list c1"}) {
		t.Errorf("calls %v, want [list c2 list c1]", got)
	}

	clk.now = clk.now.Add(holdClaims / 2)
	l.resync(ctx)
	checkUpstreams(t, w)
	clk.now = clk.now.Add(holdClaims)
	l.resync(ctx)
	if _, ok := upstreams(w); ok {
		t.Error("a route no container claims outlived the full listing that confirmed it")
	}
}

// TestRecreate: a container replaced by a new one (compose up
// --force-recreate) hands its route over without the route going away.
func TestRecreate(t *testing.T) {
	api, w, l, clk := listed(t, replica("old", "10.0.1.11"))
	ctx := context.Background()
	l.eventsArrived(ctx, event(events.ActionKill, "old", "signal", "15"))
	checkUpstreams(t, w)
	api.set()
	l.eventsArrived(ctx, event(events.ActionDestroy, "old"))
	checkUpstreams(t, w) // still claimed: requests wait for the new one
	clk.now = clk.now.Add(time.Second)
	api.set(replica("new", "10.0.1.12"))
	l.resync(ctx) // a full listing in between keeps the claim
	checkUpstreams(t, w, "10.0.1.12:8080")
}

// TestRestart: a container restarted (docker restart: stop signal, then
// start of the same container) serves again at its start event.
func TestRestart(t *testing.T) {
	_, w, l, _ := listed(t, replica("c1", "10.0.1.11"))
	ctx := context.Background()
	l.eventsArrived(ctx, event(events.ActionKill, "c1", "signal", "15"))
	checkUpstreams(t, w)
	l.eventsArrived(ctx, event(events.ActionStart, "c1"))
	checkUpstreams(t, w, "10.0.1.11:8080")
}

// TestStopIgnored: a container that got its stop signal and keeps running
// is routed again after maxLeaving.
func TestStopIgnored(t *testing.T) {
	_, w, l, clk := listed(t, replica("c1", "10.0.1.11"))
	ctx := context.Background()
	l.eventsArrived(ctx, event(events.ActionKill, "c1", "signal", "15"))
	l.resync(ctx)
	checkUpstreams(t, w)
	clk.now = clk.now.Add(maxLeaving)
	l.resync(ctx)
	checkUpstreams(t, w, "10.0.1.11:8080")
}

// TestNetworksListedWhenNeeded: the networks are listed at a full listing
// when due, and when a container is on one the last listing lacked.
func TestNetworksListedWhenNeeded(t *testing.T) {
	api, w, l, _ := listed(t, replica("c1", "10.0.1.11"))
	ctx := context.Background()
	if got := api.takeCalls(); !slices.Equal(got, []string{"list", "networks"}) {
		t.Errorf("first listing called %v, want [list networks]", got)
	}
	api.set(replica("c1", "10.0.1.11"), replica("c2", "10.0.1.12"))
	l.eventsArrived(ctx, event(events.ActionStart, "c2"))
	if got := api.takeCalls(); !slices.Equal(got, []string{"list c2"}) {
		t.Errorf("a start on a known network called %v, want [list c2]", got)
	}
	api.set(replica("c1", "10.0.1.11"), replica("c2", "10.0.1.12"), replica("c3", "10.0.3.13", func(c *container.Summary) {
		c.NetworkSettings.Networks = map[string]*network.EndpointSettings{"p_new": {NetworkID: "net3", IPAddress: "10.0.3.13"}}
	}))
	api.networks = append(slices.Clone(testNets), fake.Network("net3", "p_new", "10.0.3.0/24"))
	l.eventsArrived(ctx, event(events.ActionStart, "c3"))
	if got := api.takeCalls(); !slices.Equal(got, []string{"list c3", "networks"}) {
		t.Errorf("a start on a new network called %v, want [list c3 networks]", got)
	}
	// The gateway is not on net3, so c3 is not routed, and said why.
	checkUpstreams(t, w, "10.0.1.11:8080", "10.0.1.12:8080")
	if p := w.Snapshot().Report.Problems[discovery.ProblemKey{Service: "p-w"}]; p.Reason != discovery.ReasonNetwork {
		t.Errorf("problem of p-w = %+v, want a network one", p)
	}
}

// running returns a started watcher of a source on api, with an hour's
// resync interval: only events and retries drive it.
func running(api *fakeAPI, wo discovery.Options) *discovery.Watcher {
	opts := testOpts()
	opts.ResyncInterval, opts.APITimeout = time.Hour, time.Second
	src := newSource(api, opts)
	src.LocalAddrs = func() []netip.Addr { return gatewayAddrs }
	w := discovery.New(src, wo)
	w.Start()
	return w
}

// TestRunFollowsEvents: a running source sees a container start through
// the event stream, though the resync interval is long.
func TestRunFollowsEvents(t *testing.T) {
	api := newFakeAPI(replica("c1", "10.0.1.11"))
	w := running(api, discovery.Options{})
	t.Cleanup(func() { _ = w.Destruct() })
	<-w.Ready()
	checkUpstreams(t, w, "10.0.1.11:8080")
	api.set(replica("c1", "10.0.1.11"), replica("c2", "10.0.1.12"))
	api.events <- event(events.ActionStart, "c2")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := upstreams(w); len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the started container was not routed within 5s: %v", w.Table())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRefusedListingTurnsOff: a Docker API that refuses to list
// containers (a docker-api that predates them) turns the source off: ready
// with no route, one warning, no retry before the resync interval; it
// routes them once the API lists them.
func TestRefusedListingTurnsOff(t *testing.T) {
	api := newFakeAPI(replica("c1", "10.0.1.11"))
	api.refuse = true
	w, l, clk, logs := testLoop(t, api)
	ctx := context.Background()
	l.resync(ctx)
	if !w.Synced() || w.Table().Len() != 0 {
		t.Errorf("synced %v with %d routes, want synced with none", w.Synced(), w.Table().Len())
	}
	if d := l.nextDelay(); d != l.opts.ResyncInterval {
		t.Errorf("next listing in %v, want the resync interval %v", d, l.opts.ResyncInterval)
	}
	clk.now = clk.now.Add(l.opts.ResyncInterval)
	l.resync(ctx)
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want one: %v", n, logs.FilterLevelExact(zap.WarnLevel).All())
	}
	api.refuse = false
	l.resync(ctx)
	checkUpstreams(t, w, "10.0.1.11:8080")
	if n := logs.FilterMessage("docker api lists containers now: routing them").Len(); n != 1 {
		t.Errorf("turning on again logged %d times, want once", n)
	}
}

// TestEventsRefused: with the event stream refused (a proxy that blocks
// it), the source re-lists once per retry of the stream, not twice, and
// warns once.
func TestEventsRefused(t *testing.T) {
	api := newFakeAPI(replica("c1", "10.0.1.11"))
	api.eventsErr = errors.New("403 forbidden")
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	w := running(api, discovery.Options{Log: func() *zap.Logger { return log }})
	time.Sleep(3 * time.Second)
	if err := w.Destruct(); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	lists := slices.Index(api.calls, "list") // the first
	n := 0
	for _, c := range api.calls[lists:] {
		if c == "list" {
			n++
		}
	}
	if api.opens < 3 || n > api.opens+1 {
		t.Errorf("%d full listings for %d attempts to open the stream in 3s, want at least 3 attempts and a listing each", n, api.opens)
	}
	if got := logs.FilterLevelExact(zap.WarnLevel).Len(); got != 1 {
		t.Errorf("%d warnings, want one about the event stream: %v", got, logs.FilterLevelExact(zap.WarnLevel).All())
	}
}
