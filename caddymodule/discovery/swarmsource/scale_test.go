package swarmsource

// This file simulates discovery at swarm scale (issue 14): a recorded-
// response engine serving 5,000 services (500 labelled) and 50,000 tasks,
// in JSON the size of what this project's Docker engine answers (the
// templates in testdata/scale were taken from `GET /services`, `GET /tasks`
// and `GET /networks` on a real engine), and gateways driven on a virtual
// clock through a rolling update of one labelled 10-replica service. It
// counts the API calls and the bytes each gateway asks the manager for.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
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
)

// The simulated swarm.
const (
	scaleServices  = 5000
	scaleLabelled  = 500 // every tenth service
	scaleReplicas  = 10  // tasks per service: 50,000 in all
	scaleNetworks  = 50
	scaleGateways  = 100
	updateReplicas = scaleReplicas
	// A rolling update replaces one replica at a time (parallelism 1,
	// stop-first, the defaults): the old task is told to stop, the new one
	// starts, and runs after replicaTakes. The first replica is replaced
	// firstReplicaAfter the update's event, so that the replicas' changes
	// do not fall on the gateway's polls (which would make every join and
	// drop look instant).
	replicaTakes      = 2 * time.Second
	stopTakes         = 500 * time.Millisecond
	firstReplicaAfter = 130 * time.Millisecond
)

// scaleEngine answers the listings the watcher makes from JSON encoded
// once, as dockerd would, honouring the filters dockerd honours: label and
// id on /services, desired-state and service on /tasks (an unknown service
// is a 404, as on dockerd). It counts calls and answer bytes.
type scaleEngine struct {
	srv *httptest.Server

	mu       sync.Mutex
	services []*scaleService // in creation order
	byID     map[string]*scaleService
	networks [][]byte
	// taskFormat is the recorded task as a format: %[1]s its ID, %[2]s
	// its service, %[3]d its slot, %[4]s and %[5]s its desired and
	// actual states, %[6]s and %[7]s its network's ID and name, %[8]s
	// its address.
	taskFormat string
	calls      []string // path?filters
	bytes      int
}

type scaleService struct {
	svc      swarm.Service
	labelled bool
	json     []byte
	tasks    []scaleTask
}

// scaleTask is a task as the engine answers it.
type scaleTask struct {
	desired, state swarm.TaskState
	json           []byte
}

// loadTemplate reads one of the recorded answers in testdata/scale.
func loadTemplate(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "scale", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func scaleID(kind byte, n int) string { return fmt.Sprintf("%c%024d", kind, n) }

func newScaleEngine(t testing.TB) *scaleEngine {
	var svcT swarm.Service
	var taskT swarm.Task
	var netT network.Summary
	loadTemplate(t, "service.json", &svcT)
	loadTemplate(t, "task.json", &taskT)
	loadTemplate(t, "network.json", &netT)

	se := &scaleEngine{byID: make(map[string]*scaleService), taskFormat: taskFormat(taskT)}
	for n := range scaleNetworks {
		nw := netT
		nw.ID, nw.Name = scaleID('n', n), fmt.Sprintf("net%02d", n)
		nw.IPAM.Config = []network.IPAMConfig{{Subnet: fmt.Sprintf("10.%d.0.0/16", n+1), Gateway: fmt.Sprintf("10.%d.0.1", n+1)}}
		se.networks = append(se.networks, mustJSON(nw))
	}
	for i := range scaleServices {
		s := &scaleService{labelled: i%(scaleServices/scaleLabelled) == 0}
		s.svc = svcT // shallow: what is changed below is replaced, not written through
		s.svc.ID = scaleID('s', i)
		s.svc.Spec.Name = fmt.Sprintf("svc%04d", i)
		s.svc.CreatedAt = fake.Epoch.Add(time.Duration(i) * time.Second)
		if s.labelled {
			s.svc.Spec.Labels = map[string]string{"faas.enable": "true", "faas.port": "8080"}
		} else {
			s.svc.Spec.Labels = map[string]string{"com.docker.stack.namespace": "team", "team.owner": "ops"}
		}
		n := i % scaleNetworks
		netID := scaleID('n', n)
		s.svc.Spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: netID}}
		s.svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(scaleReplicas))}
		s.svc.PreviousSpec = ptr(s.svc.Spec)
		s.svc.Endpoint.VirtualIPs = []swarm.EndpointVirtualIP{{NetworkID: netID, Addr: fmt.Sprintf("10.%d.%d.1/16", n+1, i/scaleNetworks+1)}}
		s.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, Message: "update completed"}
		for j := range scaleReplicas {
			s.tasks = append(s.tasks, se.task(i, j, swarm.TaskStateRunning, swarm.TaskStateRunning))
		}
		s.encode()
		se.services = append(se.services, s)
		se.byID[s.svc.ID] = s
	}
	se.srv = httptest.NewServer(se)
	t.Cleanup(se.srv.Close)
	return se
}

// taskFormat turns the recorded task into the format of scaleEngine.
func taskFormat(tmpl swarm.Task) string {
	const slot = 987654321
	tmpl.ID, tmpl.ServiceID, tmpl.Slot = "@ID@", "@SVC@", slot
	tmpl.DesiredState, tmpl.Status.State = "@DESIRED@", "@STATE@"
	tmpl.Spec.Networks = []swarm.NetworkAttachmentConfig{{Target: "@NET@"}}
	att := &tmpl.NetworksAttachments[0]
	att.Network.ID, att.Network.Spec.Name, att.Addresses = "@NET@", "@NETNAME@", []string{"@ADDR@"}
	f := strings.ReplaceAll(string(mustJSON(tmpl)), "%", "%%")
	return strings.NewReplacer(`"@ID@"`, `"%[1]s"`, `"@SVC@"`, `"%[2]s"`, fmt.Sprint(slot), `%[3]d`,
		`"@DESIRED@"`, `"%[4]s"`, `"@STATE@"`, `"%[5]s"`, `"@NET@"`, `"%[6]s"`, `"@NETNAME@"`, `"%[7]s"`,
		`"@ADDR@"`, `"%[8]s"`).Replace(f)
}

// task is task j of service i, in the given states.
func (se *scaleEngine) task(i, j int, desired, state swarm.TaskState) scaleTask {
	n := i % scaleNetworks
	b := fmt.Appendf(nil, se.taskFormat, fmt.Sprintf("t%06d%018d", i, j), scaleID('s', i), j%scaleReplicas+1,
		desired, state, scaleID('n', n), fmt.Sprintf("net%02d", n), fmt.Sprintf("10.%d.%d.%d/16", n+1, i/scaleNetworks+1, j+2))
	return scaleTask{desired: desired, state: state, json: b}
}

// encode re-encodes the service after a change, keeping its status
// current as dockerd computes it.
func (s *scaleService) encode() {
	running := 0
	for _, t := range s.tasks {
		if t.desired == swarm.TaskStateRunning && t.state == swarm.TaskStateRunning {
			running++
		}
	}
	s.svc.ServiceStatus = &swarm.ServiceStatus{RunningTasks: uint64(running), DesiredTasks: *s.svc.Spec.Mode.Replicated.Replicas}
	s.json = mustJSON(s.svc)
}

func ptr[T any](v T) *T { return &v }

func (se *scaleEngine) host() string { return "tcp://" + se.srv.Listener.Addr().String() }

func (se *scaleEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := fake.Unversioned(r.URL.Path)
	w.Header().Set("Api-Version", "1.41")
	if p == "/_ping" {
		_, _ = w.Write([]byte("OK"))
		return
	}
	f, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var parts [][]byte
	se.mu.Lock()
	se.calls = append(se.calls, p+"?"+r.URL.Query().Get("filters"))
	switch p {
	case "/services":
		for _, s := range se.services {
			if (f.Contains("label") && !s.labelled) || (f.Contains("id") && !f.ExactMatch("id", s.svc.ID)) {
				continue
			}
			parts = append(parts, s.json)
		}
	case "/tasks":
		svcs := se.services
		if f.Contains("service") {
			svcs = nil
			for _, id := range f.Get("service") {
				s, ok := se.byID[id]
				if !ok {
					se.mu.Unlock()
					http.Error(w, `{"message":"service `+id+` not found"}`, http.StatusNotFound)
					return
				}
				svcs = append(svcs, s)
			}
		}
		for _, s := range svcs {
			for _, t := range s.tasks {
				if !f.Contains("desired-state") || f.ExactMatch("desired-state", string(t.desired)) {
					parts = append(parts, t.json)
				}
			}
		}
	case "/networks":
		parts = se.networks
	default:
		se.mu.Unlock()
		http.Error(w, `{"message":"not faked"}`, http.StatusNotFound)
		return
	}
	body := append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	se.bytes += len(body)
	se.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// counters returns the calls and bytes so far.
func (se *scaleEngine) counters() (int, int) {
	se.mu.Lock()
	defer se.mu.Unlock()
	return len(se.calls), se.bytes
}

// callsSince returns the calls after the first n.
func (se *scaleEngine) callsSince(n int) []string {
	se.mu.Lock()
	defer se.mu.Unlock()
	return slices.Clone(se.calls[n:])
}

// rollingUpdate sets service i to where a rolling update begun at time 0
// is at time at.
func (se *scaleEngine) rollingUpdate(i int, at time.Duration) {
	se.mu.Lock()
	defer se.mu.Unlock()
	s := se.services[i]
	s.tasks = s.tasks[:0]
	for r := range updateReplicas {
		start := replicaStart(r)
		switch {
		case at < start: // not replaced yet
			s.tasks = append(s.tasks, se.task(i, r, swarm.TaskStateRunning, swarm.TaskStateRunning))
		case at < start+stopTakes: // told to stop, still running
			s.tasks = append(s.tasks, se.task(i, r, swarm.TaskStateShutdown, swarm.TaskStateRunning))
		default:
			s.tasks = append(s.tasks, se.task(i, r, swarm.TaskStateShutdown, swarm.TaskStateShutdown))
		}
		switch { // its replacement, in slot r+1
		case at < start:
		case at < start+replicaTakes:
			s.tasks = append(s.tasks, se.task(i, r+updateReplicas, swarm.TaskStateRunning, swarm.TaskStateStarting))
		default:
			s.tasks = append(s.tasks, se.task(i, r+updateReplicas, swarm.TaskStateRunning, swarm.TaskStateRunning))
		}
	}
	updating := at < updateTakes()
	state := swarm.UpdateStateCompleted
	if updating {
		state = swarm.UpdateStateUpdating
	}
	if s.svc.UpdateStatus.State != state {
		s.svc.Version.Index++
	}
	s.svc.UpdateStatus = &swarm.UpdateStatus{State: state}
	s.encode()
}

func updateTakes() time.Duration { return replicaStart(updateReplicas) }

// replicaStart is when the update of replica r begins.
func replicaStart(r int) time.Duration { return firstReplicaAfter + time.Duration(r)*replicaTakes }

// simGateway is one gateway's source loop, driven by the simulation: its
// timer and its events come from the virtual clock, not from a goroutine.
type simGateway struct {
	w   *discovery.Watcher
	l   *loop
	now time.Duration // virtual
}

func newSimGateway(t testing.TB, se *scaleEngine) *simGateway {
	o := Options{Conn: engine.Conn{DockerHost: se.host()}, LabelPrefix: "faas", LB: labels.LBTasks, ResyncInterval: 30 * time.Second, ConvergeInterval: 250 * time.Millisecond, APITimeout: time.Minute}
	api := testClient(t, o)
	t.Cleanup(func() { _ = api.Close() })
	g := &simGateway{}
	src := newSource(api, o)
	src.LocalAddrs = func() []netip.Addr { return nil }
	g.w = discovery.New(src, discovery.Options{Now: func() time.Time { return fake.Epoch.Add(g.now) }})
	g.l = src.newLoop(discovery.NewFeed(g.w))
	// An open event stream, silent: the simulation delivers the events.
	g.l.stream.sub.msgs = make(chan events.Message)
	return g
}

// The loop's reactions, as it runs them, at virtual time at.
func (g *simGateway) timerFired(at time.Duration) {
	g.now = at
	g.l.timerFired(context.Background())
}

func (g *simGateway) eventArrived(at time.Duration, m events.Message) {
	g.now = at
	g.l.eventsArrived(context.Background(), m)
}

// nextDelay is the loop's own choice of when to list next.
func (g *simGateway) nextDelay() time.Duration { return g.l.nextDelay() }

// scaleResult is what one gateway cost the manager over a span of time.
type scaleResult struct {
	calls, bytes int
	took         time.Duration // virtual
}

func (r scaleResult) perSecond() (float64, float64) {
	s := r.took.Seconds()
	return float64(r.calls) / s, float64(r.bytes) / s
}

// steadyMinute runs a gateway for a virtual minute over a swarm where
// nothing changes: its periodic resyncs only.
func steadyMinute(g *simGateway, se *scaleEngine) scaleResult {
	c0, b0 := se.counters()
	start := g.now
	for next := g.now + g.nextDelay(); next <= start+time.Minute; next += g.nextDelay() {
		g.timerFired(next)
	}
	c1, b1 := se.counters()
	g.now = start + time.Minute
	return scaleResult{calls: c1 - c0, bytes: b1 - b0, took: time.Minute}
}

// steadyWithEvents runs a gateway for a virtual minute in which a service
// that does not opt in changes every second (deploys elsewhere in the
// swarm), each change a service event.
func steadyWithEvents(t testing.TB, g *simGateway, se *scaleEngine) scaleResult {
	c0, b0 := se.counters()
	start := g.now
	next := start + g.nextDelay()
	for sec := 1; sec <= 60; sec++ {
		at := start + time.Duration(sec)*time.Second
		for ; next <= at; next += g.nextDelay() {
			g.timerFired(next)
		}
		g.eventArrived(at, events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: scaleID('s', sec*10+1)}})
		if g.l.failures > 0 {
			t.Fatalf("listing failed at %v", at)
		}
		next = at + g.nextDelay()
	}
	c1, b1 := se.counters()
	return scaleResult{calls: c1 - c0, bytes: b1 - b0, took: time.Minute}
}

// replicaLatency records, for the replicas of a rolling update, when the
// gateway's table took in each new one after it ran (join) and let go of
// each old one after it was told to stop (drop), in virtual time.
type replicaLatency struct {
	joined, dropped map[int]time.Duration // by replica
}

// observe notes which replicas of service i the table holds at time at.
func (l *replicaLatency) observe(g *simGateway, i int, at time.Duration) {
	var ups []string
	if r := g.w.Table().Match("", fmt.Sprintf("/svc%04d", i)); r != nil {
		ups = r.Pick().Upstreams
	}
	n := i % scaleNetworks
	addr := func(j int) string { return fmt.Sprintf("10.%d.%d.%d:8080", n+1, i/scaleNetworks+1, j+2) }
	for r := range updateReplicas {
		start := replicaStart(r)
		if _, ok := l.joined[r]; !ok && at >= start+replicaTakes && slices.Contains(ups, addr(r+updateReplicas)) {
			l.joined[r] = at - start - replicaTakes
		}
		if _, ok := l.dropped[r]; !ok && at >= start && !slices.Contains(ups, addr(r)) {
			l.dropped[r] = at - start
		}
	}
}

// worst returns the longest join and drop.
func (l *replicaLatency) worst() (join, drop time.Duration) {
	for _, d := range l.joined {
		join = max(join, d)
	}
	for _, d := range l.dropped {
		drop = max(drop, d)
	}
	return join, drop
}

// rollingUpdateRun runs a gateway through the rolling update of service i,
// from its first event until the gateway sees it converged, and returns
// the cost, the calls made by converge polls (timer-driven listings while
// the update ran) and the replicas' join and drop latencies.
func rollingUpdateRun(t testing.TB, g *simGateway, se *scaleEngine, i int) (scaleResult, []string, *replicaLatency) {
	lat := &replicaLatency{joined: map[int]time.Duration{}, dropped: map[int]time.Duration{}}
	c0, b0 := se.counters()
	t0 := g.now                              // the update starts now
	evs := []time.Duration{0, updateTakes()} // update started, completed
	next := time.Duration(1<<63 - 1)
	var polls []string
	for {
		var at time.Duration
		if len(evs) > 0 && evs[0] <= next {
			at, evs = evs[0], evs[1:]
			se.rollingUpdate(i, at)
			g.eventArrived(t0+at, events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: scaleID('s', i)}})
		} else {
			at = next
			se.rollingUpdate(i, at)
			n, _ := se.counters()
			g.timerFired(t0 + at)
			polls = append(polls, se.callsSince(n)...)
		}
		if g.l.failures > 0 {
			t.Fatalf("listing failed at %v", at)
		}
		lat.observe(g, i, at)
		next = at + g.nextDelay()
		if at >= updateTakes() && !g.l.report().Converging() {
			c1, b1 := se.counters()
			if len(lat.joined) != updateReplicas || len(lat.dropped) != updateReplicas {
				t.Fatalf("replicas joined %v, dropped %v, want all %d", lat.joined, lat.dropped, updateReplicas)
			}
			return scaleResult{calls: c1 - c0, bytes: b1 - b0, took: at}, polls, lat
		}
		if at > 3*updateTakes() {
			t.Fatal("the update never converged")
		}
	}
}

// TestScaleSimulation measures what discovery costs a manager at swarm
// scale, and holds the result: a converging re-list asks only for the
// converging service, a rolling update costs at least 20 times fewer bytes
// per second than before issue 14, and a steady minute no more than
// before, even with a service event every second elsewhere in the swarm.
func TestScaleSimulation(t *testing.T) {
	start := time.Now()
	se := newScaleEngine(t)
	setup := time.Since(start)

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g := newSimGateway(t, se)
	c0, b0 := se.counters()
	t0 := time.Now()
	g.timerFired(0) // the first, full, listing
	firstSync := time.Since(t0)
	c1, b1 := se.counters()
	if g.l.failures > 0 || g.w.Table().Len() != scaleLabelled {
		t.Fatalf("first listing: %d failures, %d routes, want %d", g.l.failures, g.w.Table().Len(), scaleLabelled)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	heap := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)

	t0 = time.Now()
	const builds = 5
	for range builds {
		Build(g.l.last, Options{LabelPrefix: "faas", LB: labels.LBTasks})
	}
	build := time.Since(t0) / builds

	steady := steadyMinute(g, se)
	busy := steadyWithEvents(t, g, se)
	upd, polls, lat := rollingUpdateRun(t, g, se, 0)
	join, drop := lat.worst()
	runtime.KeepAlive(g)

	sc, sb := steady.perSecond()
	uc, ub := upd.perSecond()
	var tb strings.Builder
	fmt.Fprintf(&tb, "swarm: %d services (%d labelled), %d tasks, %d networks; setup %v\n", scaleServices, scaleLabelled, scaleServices*scaleReplicas, scaleNetworks, setup.Round(time.Millisecond))
	fmt.Fprintf(&tb, "JSON per object: service %d B, task %d B, network %d B\n", len(se.services[0].json), len(se.services[0].tasks[0].json), len(se.networks[0]))
	fmt.Fprintf(&tb, "%-44s %14s\n", "measure (one gateway unless said)", "value")
	row := func(k string, v any) { fmt.Fprintf(&tb, "%-44s %14v\n", k, v) }
	row("first full listing: calls", c1-c0)
	row("first full listing: bytes", b1-b0)
	row("first full listing: wall time", firstSync.Round(time.Millisecond))
	row("build the table (from the listing)", build.Round(time.Microsecond))
	row("heap held after the listing (MB)", fmt.Sprintf("%.1f", float64(heap)/1e6))
	row("steady: calls per minute", steady.calls)
	row("steady: bytes per minute", steady.bytes)
	row("steady, an event a second elsewhere: calls/min", busy.calls)
	row("steady, an event a second elsewhere: bytes/min", busy.bytes)
	row("update: converged after (virtual)", upd.took)
	row("update: calls until converged", upd.calls)
	row("update: bytes until converged", upd.bytes)
	row("update: bytes per second", fmt.Sprintf("%.0f", ub))
	row("update: worst join, drop (virtual)", fmt.Sprintf("%v, %v", join, drop))
	row(fmt.Sprintf("%d gateways, steady: requests/s", scaleGateways), fmt.Sprintf("%.1f", sc*scaleGateways))
	row(fmt.Sprintf("%d gateways, steady: MB/s", scaleGateways), fmt.Sprintf("%.2f", sb*scaleGateways/1e6))
	bc, bb := busy.perSecond()
	row(fmt.Sprintf("%d gateways, events elsewhere: requests/s", scaleGateways), fmt.Sprintf("%.1f", bc*scaleGateways))
	row(fmt.Sprintf("%d gateways, events elsewhere: MB/s", scaleGateways), fmt.Sprintf("%.2f", bb*scaleGateways/1e6))
	row(fmt.Sprintf("%d gateways, update: requests/s", scaleGateways), fmt.Sprintf("%.1f", uc*scaleGateways))
	row(fmt.Sprintf("%d gateways, update: MB/s", scaleGateways), fmt.Sprintf("%.2f", ub*scaleGateways/1e6))
	t.Logf("\n%s", tb.String())

	// A converging re-list asks for the converging service and its tasks,
	// and for nothing else.
	converging := []string{scaleID('s', 0)}
	for _, c := range polls {
		path, raw, _ := strings.Cut(c, "?")
		f, err := filters.FromJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		switch path {
		case "/services":
			if got := f.Get("id"); !slices.Equal(got, converging) {
				t.Errorf("a converging re-list asked for the services %v, want only %v", got, converging)
			}
		case "/tasks":
			if got := f.Get("service"); !slices.Equal(got, converging) {
				t.Errorf("a converging re-list asked for the tasks of services %v, want only %v", got, converging)
			}
		default:
			t.Errorf("a converging re-list made the call %s", c)
		}
	}
	if len(polls) == 0 {
		t.Error("no re-list while the service converged")
	}
	// Every converge_interval, as before: a replica joins or drops within one.
	if limit := g.l.opts.ConvergeInterval; join > limit || drop > limit {
		t.Errorf("worst join %v, drop %v, want both within converge_interval %v", join, drop, limit)
	}
	if ub*20 > beforeUpdateBytesPerSecond {
		t.Errorf("during the update %.0f bytes/s, want at most a 20th of the %d before issue 14", ub, beforeUpdateBytesPerSecond)
	}
	if busy.bytes > beforeSteadyBytes {
		t.Errorf("steady with events elsewhere: %d bytes a minute, want no more than the %d of a quiet minute before issue 14", busy.bytes, beforeSteadyBytes)
	}
	if steady.calls > beforeSteadyCalls || steady.bytes > beforeSteadyBytes {
		t.Errorf("steady: %d calls and %d bytes a minute, want no more than the %d and %d before issue 14",
			steady.calls, steady.bytes, beforeSteadyCalls, beforeSteadyBytes)
	}
}

// What this simulation measured before issue 14 (at commit 71a6ca9, where
// every listing, converge polls included, asked for every running task).
const (
	beforeSteadyCalls          = 6         // a minute
	beforeSteadyBytes          = 133788390 // a minute
	beforeUpdateBytesPerSecond = 270921390
)
