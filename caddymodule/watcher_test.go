package caddymodule

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	dockerapi "github.com/faas-gateway/faas-gateway/docker-api"

	"github.com/caddyserver/caddy/v2"
)

// fixedLogger makes a watcher log to l.
func fixedLogger(l *zap.Logger) func() *zap.Logger { return func() *zap.Logger { return l } }

// testDiscovery returns options for a watcher on the fake engine, with a
// resync interval long enough that only events and convergence drive it.
func testDiscovery(fe *fakeEngine) Discovery {
	d := Discovery{DockerHost: fe.host(), ResyncInterval: caddy.Duration(time.Hour), ConvergeInterval: caddy.Duration(50 * time.Millisecond)}
	if err := d.provision(); err != nil {
		panic(err)
	}
	return d
}

// startTestWatcher starts a watcher on fe that sees itself on the test
// network, and returns it with its observed logs.
func startTestWatcher(t *testing.T, fe *fakeEngine, d Discovery) (*watcher, *observer.ObservedLogs) {
	t.Helper()
	api, err := newDockerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	w := newWatcher(api, d)
	w.log = fixedLogger(zap.New(core))
	w.localAddrs = func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.0.1.2")} }
	w.start()
	t.Cleanup(func() {
		if err := w.Destruct(); err != nil {
			t.Errorf("destruct: %v", err)
		}
	})
	return w, logs
}

// seed puts service s with the given task addresses into fe.
func seed(fe *fakeEngine, opts []serviceOpt, addrs ...string) {
	fe.networks = []network.Summary{testNetwork(testNetID, "faas_net", "10.0.1.0/24")}
	fe.services = []swarm.Service{swarmService("s", append([]serviceOpt{enabled(), serviceReplicas(uint64(len(addrs)))}, opts...)...)}
	fe.tasks = nil
	for _, a := range addrs {
		fe.tasks = append(fe.tasks, swarmTask("s", a))
	}
}

// waitUpstreams waits until the route /s has exactly want as upstreams.
func waitUpstreams(t *testing.T, w *watcher, within time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var got []string
		if r := w.table().match("", "/s"); r != nil {
			got = r.Upstreams
		}
		if slices.Equal(got, want) && (got != nil || len(want) == 0) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v upstreams of /s = %v, want %v", within, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatcherFollowsEvents(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	// A scale-up announced by a service event is picked up at once, though
	// the resync interval is an hour.
	fe.update(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.10", "10.0.1.11") })
	took := waitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	t.Logf("scale-up seen after %v", took)

	fe.update(func(fe *fakeEngine) { fe.services = nil; fe.tasks = nil })
	waitUpstreams(t, w, time.Second)

	// A listing is not atomic: one that straddles the last update (services
	// before it, tasks after) sees the service with no task, and says so.
	for msg, most := range map[string]int{"route added": 1, "replicas changed": 2, "route removed": 1} {
		if n := logs.FilterMessage(msg).Len(); n < 1 || n > most {
			t.Errorf("%q logged %d times, want 1 to %d; the log: %v", msg, n, most, logs.All())
		}
	}
	for _, c := range fe.callSet() {
		method, path, _ := strings.Cut(c, " ")
		if !dockerapi.Allows(method, path) {
			t.Errorf("call %q is outside docker-api's allowlist", c)
		}
	}
}

func TestWatcherPollsWhileConverging(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, []serviceOpt{serviceUpdating()}, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	// No event: only the converge polling can see this task replacement.
	fe.quietly(func(fe *fakeEngine) { seed(fe, []serviceOpt{serviceUpdating()}, "10.0.1.20") })
	waitUpstreams(t, w, time.Second, "10.0.1.20:8080")

	// Settled: polling stops, so a silent change is not seen before the
	// (hour-long) resync.
	fe.update(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.20") })
	time.Sleep(200 * time.Millisecond)
	before := fe.callCount("GET /services")
	time.Sleep(300 * time.Millisecond)
	if after := fe.callCount("GET /services"); after != before {
		t.Errorf("a settled service was listed %d more times in 300ms, want 0", after-before)
	}
}

// TestWatcherEventStreamHangs: an event stream that never opens must not
// stop the listing (nor, in Destruct, the shutdown).
func TestWatcherEventStreamHangs(t *testing.T) {
	fe := newFakeEngine(t)
	fe.hangEvents = true
	seed(fe, []serviceOpt{serviceUpdating()}, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.quietly(func(fe *fakeEngine) { seed(fe, []serviceOpt{serviceUpdating()}, "10.0.1.11") })
	waitUpstreams(t, w, time.Second, "10.0.1.11:8080")
}

// TestWatcherEventsBlocked: with /events refused, changes are still seen
// (by re-listing every second) and one warning says so.
func TestWatcherEventsBlocked(t *testing.T) {
	fe := newFakeEngine(t)
	fe.blockEvents = true
	seed(fe, nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.quietly(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.11") })
	waitUpstreams(t, w, 3*maxBackoff, "10.0.1.11:8080")
	time.Sleep(3 * maxBackoff)
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want one about the event stream: %v", n, logs.FilterLevelExact(zap.WarnLevel).All())
	}
}

func TestWatcherPollOnly(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	d := testDiscovery(fe)
	d.PollOnly, d.ResyncInterval = true, caddy.Duration(100*time.Millisecond)
	w, _ := startTestWatcher(t, fe, d)
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.quietly(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.10", "10.0.1.11") })
	waitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := fe.callCount("GET /events"); n != 0 {
		t.Errorf("poll_only subscribed to events %d times", n)
	}
}

func TestWatcherSurvivesDockerOutage(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	fe.setDown(true)
	time.Sleep(2 * time.Second) // several retries
	if r := w.table().match("", "/s"); r == nil || len(r.Upstreams) != 1 {
		t.Fatalf("during the outage the route is %v, want the last known one", r)
	}
	if n := logs.FilterMessage("docker api unreachable; serving the last known routes and retrying").Len(); n != 1 {
		t.Errorf("outage logged %d times at warn, want once", n)
	}

	fe.quietly(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.10", "10.0.1.11") })
	fe.setDown(false)
	waitUpstreams(t, w, 2*maxBackoff, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := logs.FilterMessage("docker api reachable again").Len(); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}

	// The event stream is back too: an event is seen at once.
	time.Sleep(100 * time.Millisecond)
	fe.update(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.12") })
	waitUpstreams(t, w, time.Second, "10.0.1.12:8080")
}

func TestResyncCostsConstantCalls(t *testing.T) {
	fe := newFakeEngine(t)
	fe.networks = []network.Summary{testNetwork(testNetID, "faas_net", "10.0.1.0/24")}
	for i := range 200 {
		name := fmt.Sprintf("svc%d", i)
		fe.services = append(fe.services, swarmService(name, enabled(), serviceReplicas(5)))
		for j := range 5 {
			fe.tasks = append(fe.tasks, swarmTask(name, fmt.Sprintf("10.0.%d.%d", i/50+1, (i%50)*5+j+1)))
		}
	}
	d := testDiscovery(fe)
	api, err := newDockerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	w := newWatcher(api, d)
	w.log = fixedLogger(zap.NewNop())
	var ls loopState
	w.resync(context.Background(), &ls)
	if ls.failures > 0 {
		t.Fatal("resync failed")
	}
	fe.mu.Lock()
	calls := slices.Clone(fe.calls)
	fe.mu.Unlock()
	if want := []string{"HEAD /_ping", "GET /services", "GET /tasks", "GET /networks"}; !slices.Equal(calls, want) {
		t.Errorf("one resync of 200 services made calls %v, want %v", calls, want)
	}
	if n := routeCount(w.table()); n != 200 {
		t.Errorf("routes = %d, want 200", n)
	}
}

func TestWatcherSharedAcrossReloadAndStoppedOnCleanup(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	d := Discovery{DockerHost: fe.host()}

	provision := func(m interface {
		caddy.Provisioner
		caddy.CleanerUpper
	}) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		if err := m.Provision(ctx); err != nil {
			t.Fatalf("provision: %v", err)
		}
	}
	// The old config: an upstream source and a router with the same options.
	old1, old2 := &SwarmUpstreams{Discovery: d}, &SwarmRoute{Discovery: d}
	provision(old1)
	provision(old2)
	if old1.watcher != old2.watcher {
		t.Fatal("modules with equal options got different watchers")
	}
	w := old1.watcher
	// A reload provisions the new config before cleaning up the old one.
	next := &SwarmUpstreams{Discovery: d}
	provision(next)
	for _, m := range []caddy.CleanerUpper{old1, old2} {
		if err := m.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	if next.watcher != w {
		t.Fatal("the reload got a new watcher")
	}
	select {
	case <-w.done:
		t.Fatal("the watcher stopped while the new config still uses it")
	default:
	}
	if err := next.Cleanup(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not stop after its last user was cleaned up")
	}
	// A request of the old config still in flight (a retry, say) reads the
	// watcher after Cleanup: it gets the last routes, not a nil pointer.
	if _, err := old1.GetUpstreams(httptest.NewRequest("GET", "/s/x", nil)); err != nil {
		t.Errorf("GetUpstreams after Cleanup: %v", err)
	}
	if err := old1.Cleanup(); err != nil {
		t.Errorf("a second Cleanup: %v", err)
	}
	// Cleanup after a failed or absent Provision is harmless.
	if err := (&SwarmUpstreams{}).Cleanup(); err != nil {
		t.Fatal(err)
	}
	fe.close()
}

// TestWatcherFirstSync: firstSync is closed only once a full listing has
// been published, and stays closed through an outage.
func TestWatcherFirstSync(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	fe.setDown(true)
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	time.Sleep(300 * time.Millisecond)
	select {
	case <-w.firstSync():
		t.Fatal("first sync reported while the Docker API is down")
	default:
	}
	fe.setDown(false)
	select {
	case <-w.firstSync():
	case <-time.After(3 * time.Second):
		t.Fatal("no first sync 3s after the Docker API came back")
	}
	if r := w.table().match("", "/s"); r == nil {
		t.Error("first sync reported before the table was published")
	}
}

// TestConvergingRelistAsksOnlyForConverging is issue 14: while a service
// converges, the re-lists ask for that service and its tasks only, never
// for the tasks of other services, nor for the networks.
func TestConvergingRelistAsksOnlyForConverging(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, []serviceOpt{serviceUpdating()}, "10.0.1.10")
	fe.services = append(fe.services,
		swarmService("settled", enabled("faas.path", "/settled")),
		swarmService("unlabelled"),
	)
	fe.tasks = append(fe.tasks, swarmTask("settled", "10.0.1.20"), swarmTask("unlabelled", "10.0.1.30"))
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	// The listing that follows the event stream's opening is a full one,
	// networks included: wait for it.
	waitStreamListing(t, fe)

	n := fe.callTotal()
	time.Sleep(400 * time.Millisecond) // about eight converge_intervals
	polls := 0
	for _, c := range fe.callsSince(n) {
		call, f := callFilters(t, c)
		switch call {
		case "GET /tasks":
			polls++
			if got := f.Get("service"); !slices.Equal(got, []string{"s"}) {
				t.Errorf("a converging re-list asked for the tasks of services %v, want only [s]: %s", got, c)
			}
		case "GET /services":
			if got := f.Get("id"); !slices.Equal(got, []string{"s"}) {
				t.Errorf("a converging re-list asked for services %v, want only [s]: %s", got, c)
			}
		default:
			t.Errorf("a converging re-list made the call %s", c)
		}
	}
	if polls < 3 {
		t.Errorf("%d re-lists in 400ms of a service converging, want at least 3", polls)
	}
}

// callFilters splits a call as callsSince returns it into the call and
// its filters.
func callFilters(t *testing.T, c string) (string, filters.Args) {
	t.Helper()
	call, query, _ := strings.Cut(c, "?")
	v, err := url.ParseQuery(strings.ReplaceAll(query, "+", "%2B"))
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	f, err := filters.FromJSON(v.Get("filters"))
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return call, f
}

// TestNetworksListedWhenSaid is issue 14: networks change rarely, so a
// listing that a service event causes does not ask for them, unless a
// service is on a network not known yet; a network event does.
func TestNetworksListedWhenSaid(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	waitStreamListing(t, fe)
	nets := func() int { return fe.callCount("GET /networks") }

	before := nets()
	fe.update(func(fe *fakeEngine) { seed(fe, nil, "10.0.1.10", "10.0.1.11") })
	waitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := nets() - before; n != 0 {
		t.Errorf("a service event caused %d network listings, want 0", n)
	}

	// Moved to a network the watcher has never seen: it must list them.
	wide := testNetwork("net2", "wide_net", "10.0.0.0/16")
	fe.update(func(fe *fakeEngine) {
		seed(fe, []serviceOpt{serviceNetworks("net2")}, "10.0.9.9")
		fe.networks = append(fe.networks, wide)
		fe.tasks[0] = swarmTask("s", "10.0.9.9", taskOnNetwork("net2"))
	})
	waitUpstreams(t, w, time.Second, "10.0.9.9:8080")

	before = nets()
	fe.networkChange(func(fe *fakeEngine) {
		fe.networks = append(fe.networks, testNetwork("net3", "new_net", "10.0.3.0/24"))
	})
	for deadline := time.Now().Add(time.Second); nets() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a network event caused no network listing")
		}
	}
}

// TestEventRelistsTheServicesItNames is issue 14: a service event re-lists
// the service it names and its tasks, and nothing else, whether the
// service was updated, created or removed.
func TestEventRelistsTheServicesItNames(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	fe.services = append(fe.services, swarmService("other", enabled("faas.path", "/other")))
	fe.tasks = append(fe.tasks, swarmTask("other", "10.0.1.20"))
	w, _ := startTestWatcher(t, fe, testDiscovery(fe))
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	waitStreamListing(t, fe)

	onlyFor := func(n int, id string) {
		t.Helper()
		for _, c := range fe.callsSince(n) {
			call, f := callFilters(t, c)
			switch {
			case call == "GET /services" && slices.Equal(f.Get("id"), []string{id}):
			case call == "GET /tasks" && slices.Equal(f.Get("service"), []string{id}):
			default:
				t.Errorf("the event of service %s caused the call %s", id, c)
			}
		}
	}
	n := fe.callTotal()
	fe.updateService("s", func(fe *fakeEngine) {
		fe.services[0].Spec.Mode.Replicated.Replicas = ptr(uint64(2))
		fe.tasks = append(fe.tasks, swarmTask("s", "10.0.1.11"))
	})
	waitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	onlyFor(n, "s")

	n = fe.callTotal()
	fe.updateService("new", func(fe *fakeEngine) {
		fe.services = append(fe.services, swarmService("new", enabled("faas.path", "/new")))
		fe.tasks = append(fe.tasks, swarmTask("new", "10.0.1.30"))
	})
	waitRoute(t, w, "/new", true)
	onlyFor(n, "new")

	n = fe.callTotal()
	fe.updateService("s", func(fe *fakeEngine) {
		fe.services = slices.DeleteFunc(fe.services, func(s swarm.Service) bool { return s.ID == "s" })
		fe.tasks = slices.DeleteFunc(fe.tasks, func(t swarm.Task) bool { return t.ServiceID == "s" })
	})
	waitRoute(t, w, "/s", false)
	onlyFor(n, "s")
	if r := w.table().match("", "/other"); r == nil || len(r.Upstreams) != 1 {
		t.Errorf("route /other = %v after events of other services, want its one replica", r)
	}
}

// waitRoute waits until a route claims path (or none does).
func waitRoute(t *testing.T, w *watcher, path string, present bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); (w.table().match("", path) != nil) != present; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("route for %s present = %v after 1s, want %v", path, !present, present)
		}
	}
}

// TestFullListingNotStarvedByEvents: events re-list only what they name,
// so the periodic full listing (the safety net for a missed event) must
// come every resync_interval however often events come.
func TestFullListingNotStarvedByEvents(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	d := testDiscovery(fe)
	d.ResyncInterval = caddy.Duration(200 * time.Millisecond)
	w, _ := startTestWatcher(t, fe, d)
	waitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	time.Sleep(100 * time.Millisecond)

	full := func(n int) int {
		k := 0
		for _, c := range fe.callsSince(n) {
			if call, f := callFilters(t, c); call == "GET /services" && !f.Contains("id") {
				k++
			}
		}
		return k
	}
	n := fe.callTotal()
	for start := time.Now(); time.Since(start) < time.Second; time.Sleep(20 * time.Millisecond) {
		fe.updateService("s", func(*fakeEngine) {})
	}
	if k := full(n); k < 3 {
		t.Errorf("%d full listings in 1s of an event every 20ms, want at least 3 (resync_interval 200ms)", k)
	}
}

// waitStreamListing waits for the full listing that follows the event
// stream's opening (the second one to list networks), so that what a test
// counts next is caused by what it does.
func waitStreamListing(t *testing.T, fe *fakeEngine) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); fe.callCount("GET /networks") < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no full listing after the event stream opened")
		}
	}
	time.Sleep(50 * time.Millisecond)
}

// TestEventBetweenDrainsIsKept: an event that arrives while the loop
// handles a burst (after it has read the burst, before it has noted it) is
// counted and acted on, not dropped until the next full resync.
func TestEventBetweenDrainsIsKept(t *testing.T) {
	fe := newFakeEngine(t)
	seed(fe, nil, "10.0.1.10")
	d := testDiscovery(fe)
	api, err := newDockerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	msgs := make(chan events.Message, 4)
	late := events.Message{Type: events.ServiceEventType, Action: "create", Actor: events.Actor{ID: "new"}, Scope: "swarm"}
	// The event of service "new" arrives while the loop notes the burst it
	// read: when it logs that the stream is back.
	core, _ := observer.New(zap.DebugLevel)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "docker event stream back" {
			msgs <- late
		}
		return nil
	}))
	w := newWatcher(api, d)
	w.log = fixedLogger(log)
	w.localAddrs = func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.0.1.2")} }
	var ls loopState
	ls.stream.sub.msgs = msgs
	ls.stream.failures = eventsWarnAfter
	ctx := context.Background()
	w.resync(ctx, &ls)

	fe.quietly(func(fe *fakeEngine) {
		fe.services = append(fe.services, swarmService("new", enabled("faas.path", "/new")))
		fe.tasks = append(fe.tasks, swarmTask("new", "10.0.1.30"))
	})
	w.eventsArrived(ctx, &ls, events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: "s"}, Scope: "swarm"})
	// The loop takes what is still queued on its next turn.
	for more := true; more; {
		select {
		case m := <-msgs:
			w.eventsArrived(ctx, &ls, m)
		default:
			more = false
		}
	}
	if n := w.metrics.discovery.events.Load(); n != 2 {
		t.Errorf("%d events counted, want 2", n)
	}
	if w.table().match("", "/new") == nil {
		t.Error("the service named by the event that arrived during the burst is not routed")
	}
}
