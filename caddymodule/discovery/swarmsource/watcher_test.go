package swarmsource

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	dockerapi "github.com/faas-gateway/faas-gateway/docker-api"
)

// testOptions returns options for a source on the fake engine, with a
// resync interval long enough that only events and convergence drive it.
func testOptions(fe *fake.Engine) Options {
	return Options{
		Conn: engine.Conn{DockerHost: fe.Host()}, LabelPrefix: "faas", LB: labels.LBTasks,
		ResyncInterval: time.Hour, ConvergeInterval: 50 * time.Millisecond, APITimeout: 10 * time.Second,
	}
}

// testClient is a Docker client of the engine o names.
func testClient(t testing.TB, o Options) dockerAPI {
	t.Helper()
	api, err := newDockerClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// testSource is a source on api that sees itself on the test network.
func testSource(api dockerAPI, o Options) *Source {
	s := newSource(api, o)
	s.LocalAddrs = func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.0.1.2")} }
	return s
}

// observed is a watcher's options that log to an observer, at debug level.
func observed() (discovery.Options, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	l := zap.New(core)
	return discovery.Options{Log: func() *zap.Logger { return l }}, logs
}

// startWatcher starts a watcher of src, destructed when the test ends, and
// returns it with its observed logs.
func startWatcher(t *testing.T, src *Source) (*discovery.Watcher, *observer.ObservedLogs) {
	t.Helper()
	opts, logs := observed()
	w := discovery.New(src, opts)
	w.Start()
	t.Cleanup(func() {
		if err := w.Destruct(); err != nil {
			t.Errorf("destruct: %v", err)
		}
	})
	return w, logs
}

// testLoop returns a watcher of a test source on fe, not started, and a
// loop of that source for the test to drive step by step.
func testLoop(t *testing.T, fe *fake.Engine, wo discovery.Options) (*discovery.Watcher, *loop) {
	t.Helper()
	o := testOptions(fe)
	api := testClient(t, o)
	t.Cleanup(func() { _ = api.Close() })
	src := testSource(api, o)
	w := discovery.New(src, wo)
	return w, src.newLoop(discovery.NewFeed(w))
}

// startTestWatcher starts a watcher on fe that sees itself on the test
// network, and returns it with its observed logs.
func startTestWatcher(t *testing.T, fe *fake.Engine, o Options) (*discovery.Watcher, *observer.ObservedLogs) {
	t.Helper()
	return startWatcher(t, testSource(testClient(t, o), o))
}

func TestWatcherFollowsEvents(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	// A scale-up announced by a service event is picked up at once, though
	// the resync interval is an hour.
	fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
	took := fake.WaitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	t.Logf("scale-up seen after %v", took)

	fe.Update(func(fe *fake.Engine) { fe.Services = nil; fe.Tasks = nil })
	fake.WaitUpstreams(t, w, time.Second)

	// A listing is not atomic: one that straddles the last update (services
	// before it, tasks after) sees the service with no task, and says so.
	for msg, most := range map[string]int{"route added": 1, "replicas changed": 2, "route removed": 1} {
		if n := logs.FilterMessage(msg).Len(); n < 1 || n > most {
			t.Errorf("%q logged %d times, want 1 to %d; the log: %v", msg, n, most, logs.All())
		}
	}
	for _, c := range fe.CallSet() {
		method, path, _ := strings.Cut(c, " ")
		if !dockerapi.Allows(method, path) {
			t.Errorf("call %q is outside docker-api's allowlist", c)
		}
	}
}

func TestWatcherPollsWhileConverging(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed([]fake.ServiceOpt{fake.ServiceUpdating()}, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	// No event: only the converge polling can see this task replacement.
	fe.Quietly(func(fe *fake.Engine) { fe.Seed([]fake.ServiceOpt{fake.ServiceUpdating()}, "10.0.1.20") })
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.20:8080")

	// Settled: polling stops, so a silent change is not seen before the
	// (hour-long) resync.
	fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.20") })
	time.Sleep(200 * time.Millisecond)
	before := fe.CallCount("GET /services")
	time.Sleep(300 * time.Millisecond)
	if after := fe.CallCount("GET /services"); after != before {
		t.Errorf("a settled service was listed %d more times in 300ms, want 0", after-before)
	}
}

// TestWatcherEventStreamHangs: an event stream that never opens must not
// stop the listing (nor, in Destruct, the shutdown).
func TestWatcherEventStreamHangs(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.HangEvents = true
	fe.Seed([]fake.ServiceOpt{fake.ServiceUpdating()}, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.Quietly(func(fe *fake.Engine) { fe.Seed([]fake.ServiceOpt{fake.ServiceUpdating()}, "10.0.1.11") })
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.11:8080")
}

// TestWatcherEventsBlocked: with /events refused, changes are still seen
// (by re-listing every second) and one warning says so.
func TestWatcherEventsBlocked(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.BlockEvents = true
	fe.Seed(nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.Quietly(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.11") })
	fake.WaitUpstreams(t, w, 3*engine.MaxBackoff, "10.0.1.11:8080")
	time.Sleep(3 * engine.MaxBackoff)
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want one about the event stream: %v", n, logs.FilterLevelExact(zap.WarnLevel).All())
	}
}

func TestWatcherPollOnly(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	d := testOptions(fe)
	d.PollOnly, d.ResyncInterval = true, 100*time.Millisecond
	w, _ := startTestWatcher(t, fe, d)
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	fe.Quietly(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := fe.CallCount("GET /events"); n != 0 {
		t.Errorf("poll_only subscribed to events %d times", n)
	}
}

func TestWatcherSurvivesDockerOutage(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	w, logs := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")

	fe.SetDown(true)
	time.Sleep(2 * time.Second) // several retries
	if r := w.Table().Match("", "/s"); r == nil || len(r.Pick().Upstreams) != 1 {
		t.Fatalf("during the outage the route is %v, want the last known one", r)
	}
	if n := logs.FilterMessage("docker api unreachable; serving the last known routes and retrying").Len(); n != 1 {
		t.Errorf("outage logged %d times at warn, want once", n)
	}

	fe.Quietly(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
	fe.SetDown(false)
	fake.WaitUpstreams(t, w, 2*engine.MaxBackoff, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := logs.FilterMessage("docker api reachable again").Len(); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}

	// The event stream is back too: an event is seen at once.
	time.Sleep(100 * time.Millisecond)
	fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.12") })
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.12:8080")
}

func TestResyncCostsConstantCalls(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")}
	for i := range 200 {
		name := fmt.Sprintf("svc%d", i)
		fe.Services = append(fe.Services, fake.Service(name, fake.Enabled(), fake.ServiceReplicas(5)))
		for j := range 5 {
			fe.Tasks = append(fe.Tasks, fake.Task(name, fmt.Sprintf("10.0.%d.%d", i/50+1, (i%50)*5+j+1)))
		}
	}
	w, l := testLoop(t, fe, discovery.Options{})
	l.resync(context.Background())
	if l.failures > 0 {
		t.Fatal("resync failed")
	}
	calls := fe.Calls()
	if want := []string{"HEAD /_ping", "GET /services", "GET /tasks", "GET /networks"}; !slices.Equal(calls, want) {
		t.Errorf("one resync of 200 services made calls %v, want %v", calls, want)
	}
	if n := w.Table().Len(); n != 200 {
		t.Errorf("routes = %d, want 200", n)
	}
}

// TestWatcherFirstSync: firstSync is closed only once a full listing has
// been published, and stays closed through an outage.
func TestWatcherFirstSync(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	fe.SetDown(true)
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	time.Sleep(300 * time.Millisecond)
	select {
	case <-w.Ready():
		t.Fatal("first sync reported while the Docker API is down")
	default:
	}
	fe.SetDown(false)
	select {
	case <-w.Ready():
	case <-time.After(3 * time.Second):
		t.Fatal("no first sync 3s after the Docker API came back")
	}
	if r := w.Table().Match("", "/s"); r == nil {
		t.Error("first sync reported before the table was published")
	}
}

// TestConvergingRelistAsksOnlyForConverging is issue 14: while a service
// converges, the re-lists ask for that service and its tasks only, never
// for the tasks of other services, nor for the networks.
func TestConvergingRelistAsksOnlyForConverging(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed([]fake.ServiceOpt{fake.ServiceUpdating()}, "10.0.1.10")
	fe.Services = append(fe.Services,
		fake.Service("settled", fake.Enabled("faas.path", "/settled")),
		fake.Service("unlabelled"),
	)
	fe.Tasks = append(fe.Tasks, fake.Task("settled", "10.0.1.20"), fake.Task("unlabelled", "10.0.1.30"))
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	// The listing that follows the event stream's opening is a full one,
	// networks included: wait for it.
	waitStreamListing(t, fe)

	n := fe.CallTotal()
	time.Sleep(400 * time.Millisecond) // about eight converge_intervals
	polls := 0
	for _, c := range fe.CallsSince(n) {
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

// TestStartingServiceRelistedFast: a service that wants a replica and has
// none running (a wake from zero) is re-listed alone every
// startingInterval, so its first replica is routed within tens of
// milliseconds of running with no event; another converging service keeps
// its converge interval.
func TestStartingServiceRelistedFast(t *testing.T) {
	fe := fake.NewEngine(t)
	// s (route /s) starts its one replica; u updates, with one running.
	fe.Seed(nil, "10.0.1.20")
	fe.Tasks[0] = fake.Task("s", "10.0.1.20", fake.TaskState(swarm.TaskStateRunning, swarm.TaskStateStarting))
	fe.Services = append(fe.Services, fake.Service("u", fake.Enabled("faas.path", "/u"), fake.ServiceUpdating()))
	fe.Tasks = append(fe.Tasks, fake.Task("u", "10.0.1.10"))
	o := testOptions(fe)
	o.ConvergeInterval = 500 * time.Millisecond
	w, _ := startTestWatcher(t, fe, o)
	waitStreamListing(t, fe)
	if st := w.Snapshot().Report.Services["s"]; !st.Starting || !st.Converging {
		t.Fatalf("service s with its only task starting: %+v, want starting and converging", st)
	}

	n := fe.CallTotal()
	time.Sleep(time.Second)
	alone, withU := 0, 0
	for _, c := range fe.CallsSince(n) {
		call, f := callFilters(t, c)
		if call != "GET /tasks" {
			continue
		}
		switch got := f.Get("service"); {
		case slices.Equal(got, []string{"s"}):
			alone++
		case slices.Contains(got, "u"):
			withU++
		}
	}
	// 1 s is 40 starting intervals and 2 converge intervals; a loaded
	// machine may run fewer, never more.
	if alone < 15 {
		t.Errorf("the starting service was re-listed alone %d times in 1s, want at least 15", alone)
	}
	if withU > 3 {
		t.Errorf("the updating service was re-listed %d times in 1s, want at most 3 (every converge_interval, 500ms)", withU)
	}

	// Its task runs, with no event: routed within a few starting
	// intervals, well before the next converge interval would see it.
	fe.Quietly(func(fe *fake.Engine) { fe.Tasks[0] = fake.Task("s", "10.0.1.20") })
	took := fake.WaitUpstreams(t, w, 300*time.Millisecond, "10.0.1.20:8080")
	t.Logf("first replica routed %v after it ran", took)
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
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	waitStreamListing(t, fe)
	nets := func() int { return fe.CallCount("GET /networks") }

	before := nets()
	fe.Update(func(fe *fake.Engine) { fe.Seed(nil, "10.0.1.10", "10.0.1.11") })
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	if n := nets() - before; n != 0 {
		t.Errorf("a service event caused %d network listings, want 0", n)
	}

	// Moved to a network the watcher has never seen: it must list them.
	wide := fake.Network("net2", "wide_net", "10.0.0.0/16")
	fe.Update(func(fe *fake.Engine) {
		fe.Seed([]fake.ServiceOpt{fake.ServiceNetworks("net2")}, "10.0.9.9")
		fe.Networks = append(fe.Networks, wide)
		fe.Tasks[0] = fake.Task("s", "10.0.9.9", fake.TaskOnNetwork("net2"))
	})
	fake.WaitUpstreams(t, w, time.Second, "10.0.9.9:8080")

	before = nets()
	fe.NetworkChange(func(fe *fake.Engine) {
		fe.Networks = append(fe.Networks, fake.Network("net3", "new_net", "10.0.3.0/24"))
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
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	fe.Services = append(fe.Services, fake.Service("other", fake.Enabled("faas.path", "/other")))
	fe.Tasks = append(fe.Tasks, fake.Task("other", "10.0.1.20"))
	w, _ := startTestWatcher(t, fe, testOptions(fe))
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	waitStreamListing(t, fe)

	onlyFor := func(n int, id string) {
		t.Helper()
		for _, c := range fe.CallsSince(n) {
			call, f := callFilters(t, c)
			switch {
			case call == "GET /services" && slices.Equal(f.Get("id"), []string{id}):
			case call == "GET /tasks" && slices.Equal(f.Get("service"), []string{id}):
			default:
				t.Errorf("the event of service %s caused the call %s", id, c)
			}
		}
	}
	n := fe.CallTotal()
	fe.UpdateService("s", func(fe *fake.Engine) {
		fe.Services[0].Spec.Mode.Replicated.Replicas = ptr(uint64(2))
		fe.Tasks = append(fe.Tasks, fake.Task("s", "10.0.1.11"))
	})
	fake.WaitUpstreams(t, w, time.Second, "10.0.1.10:8080", "10.0.1.11:8080")
	onlyFor(n, "s")

	n = fe.CallTotal()
	fe.UpdateService("new", func(fe *fake.Engine) {
		fe.Services = append(fe.Services, fake.Service("new", fake.Enabled("faas.path", "/new")))
		fe.Tasks = append(fe.Tasks, fake.Task("new", "10.0.1.30"))
	})
	waitRoute(t, w, "/new", true)
	onlyFor(n, "new")

	n = fe.CallTotal()
	fe.UpdateService("s", func(fe *fake.Engine) {
		fe.Services = slices.DeleteFunc(fe.Services, func(s swarm.Service) bool { return s.ID == "s" })
		fe.Tasks = slices.DeleteFunc(fe.Tasks, func(t swarm.Task) bool { return t.ServiceID == "s" })
	})
	waitRoute(t, w, "/s", false)
	onlyFor(n, "s")
	if r := w.Table().Match("", "/other"); r == nil || len(r.Pick().Upstreams) != 1 {
		t.Errorf("route /other = %v after events of other services, want its one replica", r)
	}
}

// waitRoute waits until a route claims path (or none does).
func waitRoute(t *testing.T, w *discovery.Watcher, path string, present bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); (w.Table().Match("", path) != nil) != present; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("route for %s present = %v after 1s, want %v", path, !present, present)
		}
	}
}

// TestFullListingNotStarvedByEvents: events re-list only what they name,
// so the periodic full listing (the safety net for a missed event) must
// come every resync_interval however often events come.
func TestFullListingNotStarvedByEvents(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	d := testOptions(fe)
	d.ResyncInterval = 200 * time.Millisecond
	w, _ := startTestWatcher(t, fe, d)
	fake.WaitUpstreams(t, w, 5*time.Second, "10.0.1.10:8080")
	time.Sleep(100 * time.Millisecond)

	full := func(n int) int {
		k := 0
		for _, c := range fe.CallsSince(n) {
			if call, f := callFilters(t, c); call == "GET /services" && !f.Contains("id") {
				k++
			}
		}
		return k
	}
	n := fe.CallTotal()
	for start := time.Now(); time.Since(start) < time.Second; time.Sleep(20 * time.Millisecond) {
		fe.UpdateService("s", func(*fake.Engine) {})
	}
	if k := full(n); k < 3 {
		t.Errorf("%d full listings in 1s of an event every 20ms, want at least 3 (resync_interval 200ms)", k)
	}
}

// waitStreamListing waits for the full listing that follows the event
// stream's opening (the second one to list networks), so that what a test
// counts next is caused by what it does.
func waitStreamListing(t *testing.T, fe *fake.Engine) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); fe.CallCount("GET /networks") < 2; time.Sleep(5 * time.Millisecond) {
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
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
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
	w, l := testLoop(t, fe, discovery.Options{Log: func() *zap.Logger { return log }})
	l.stream.sub.msgs = msgs
	l.stream.failures = eventsWarnAfter
	ctx := context.Background()
	l.resync(ctx)

	fe.Quietly(func(fe *fake.Engine) {
		fe.Services = append(fe.Services, fake.Service("new", fake.Enabled("faas.path", "/new")))
		fe.Tasks = append(fe.Tasks, fake.Task("new", "10.0.1.30"))
	})
	l.eventsArrived(ctx, events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: "s"}, Scope: "swarm"})
	// The loop takes what is still queued on its next turn.
	for more := true; more; {
		select {
		case m := <-msgs:
			l.eventsArrived(ctx, m)
		default:
			more = false
		}
	}
	if n := w.Stats().Events(); n != 2 {
		t.Errorf("%d events counted, want 2", n)
	}
	if w.Table().Match("", "/new") == nil {
		t.Error("the service named by the event that arrived during the burst is not routed")
	}
}
