package e2e

// This file proves several Docker engines in one gateway (issue 22,
// docs/engines.md) on the two engines of `scripts/cluster.sh engines`:
// engine a, a one-node swarm, and engine b, a plain engine, whose default
// bridges overlap, each behind docker-api with mutual TLS, and one gateway,
// a container on a, reading both. Each engine's route is answered by its
// own replicas, never by a container of a at an address of b's; while b's
// docker-api is stopped, under load, a's change is routed within a second,
// b's last routes keep being served and the status shows b unreachable,
// with no request failing; once it is back, b's changes are routed again.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

const (
	// The load on each engine's route while b's docker-api is down.
	enginesRateA = 100
	enginesRateB = 50
	// enginesConverge bounds the time from a's new replica running to its
	// first answer through the gateway, with b unreachable.
	enginesConverge = time.Second
	// The two routes: a's swarm service, b's containers.
	enginesSvcA, enginesPathA = "multiply-a", "/a"
	enginesPathB              = "/b"
)

// enginesEnv is what scripts/cluster.sh engines tells the test.
type enginesEnv struct {
	base      string // the gateway, http://host:port
	a, b      string // each engine's address for the docker CLI's -H
	bHost     string // engine b's host, where its containers publish
	gateway   string // the gateway's container, on a
	dockerAPI string // docker-api's container, on each engine
	network   string // a's attachable overlay the gateway is on
}

func enginesFromEnv(t *testing.T) enginesEnv {
	t.Helper()
	gw := os.Getenv("FAAS_ENGINES_GATEWAY")
	if testing.Short() || gw == "" {
		t.Skip("runs on the two engines that `scripts/cluster.sh engines` sets up (make test-cluster)")
	}
	e := enginesEnv{base: "http://" + gw, a: os.Getenv("FAAS_ENGINE_A"), b: os.Getenv("FAAS_ENGINE_B"),
		bHost: os.Getenv("FAAS_ENGINE_B_HOST"), gateway: os.Getenv("FAAS_ENGINES_GATEWAY_CONTAINER"),
		dockerAPI: os.Getenv("FAAS_ENGINES_DOCKER_API"), network: os.Getenv("FAAS_ENGINES_NETWORK")}
	if e.a == "" || e.b == "" || e.bHost == "" || e.gateway == "" || e.dockerAPI == "" || e.network == "" {
		t.Fatal("scripts/cluster.sh engines sets FAAS_ENGINE_A, FAAS_ENGINE_B, FAAS_ENGINE_B_HOST, FAAS_ENGINES_GATEWAY_CONTAINER, FAAS_ENGINES_DOCKER_API and FAAS_ENGINES_NETWORK with FAAS_ENGINES_GATEWAY")
	}
	// The docker CLI talks to a; onB sends a command to b.
	t.Setenv("DOCKER_HOST", e.a)
	return e
}

// onB runs the docker CLI against engine b and fails the test on error.
func (e enginesEnv) onB(t *testing.T, args ...string) string {
	t.Helper()
	return mustDocker(t, append([]string{"-H", e.b}, args...)...)
}

// runB starts a labelled multiply container on b, publishing 8080 on
// any host port, named as the replica it answers as, and removes it when
// the test ends. It has the labels docker compose gives a service's
// containers, so that b's containers are one service, one route, as
// `docker compose up --scale` makes them (docs/containers.md).
func (e enginesEnv) runB(t *testing.T, name string) {
	t.Helper()
	e.onB(t, "run", "-d", "--name", name, "-p", "8080", "--env", "SERVICE_ID="+name,
		"--label", "com.docker.compose.project=engines", "--label", "com.docker.compose.service=multiply-b",
		"--label", "faas.enable=true", "--label", "faas.path="+enginesPathB, "--label", "faas.port=8080", multiplyImage)
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "-H", e.b, "rm", "-f", name) })
}

func TestEngines(t *testing.T) {
	e := enginesFromEnv(t)
	step := func(format string, args ...any) {
		t.Helper()
		// scripts/cluster.sh prints these lines as its progress.
		t.Logf("step %s: %s", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	var report strings.Builder

	// The premise: the two default bridges overlap, so an address on b's
	// says nothing on a's.
	subA, subB := bridgeSubnet(t, ""), bridgeSubnet(t, e.b)
	if !subA.Overlaps(subB) {
		t.Fatalf("the default bridges do not overlap (a %s, b %s): the proof needs them to", subA, subB)
	}
	step("the default bridges overlap: a %s, b %s", subA, subB)
	fmt.Fprintf(&report, "several engines in one gateway (scripts/cluster.sh engines): engine a, a one-node swarm; engine b, a plain engine; default bridges a %s, b %s\n", subA, subB)

	mustDocker(t, "service", "create", "--detach", "--no-resolve-image", "--name", enginesSvcA, "--network", e.network, "--replicas", "1",
		"--env", "SERVICE_ID={{.Task.Name}}", "--stop-grace-period", "10s",
		"--label", "faas.enable=true", "--label", "faas.path="+enginesPathA, "--label", "faas.port=8080", multiplyImage)
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", enginesSvcA) })
	namesB := []string{"multiply-b-1", "multiply-b-2"}
	for _, n := range namesB {
		e.runB(t, n)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.Pid}}", e.gateway)))
	if err != nil {
		t.Fatalf("the gateway's pid: %v", err)
	}
	decoyAddrs := e.requireDecoys(t, pid, namesB...)
	step("a's service %s (on %s) and b's containers %s (on b's bridge at %s, where a's bridge has decoys that the gateway reaches)",
		enginesSvcA, e.network, strings.Join(namesB, ", "), decoyAddrs)

	var tasksA map[string]bool
	eventually(t, "a's route answered by its replica", 2*time.Minute, func() error {
		tasksA = runningTasks(t, enginesSvcA)
		id, err := replicaAt(e.base, enginesPathA)
		if err == nil && !ofTasks(id, tasksA) {
			err = fmt.Errorf("answered by %s, not a running task of %s (%v)", id, enginesSvcA, tasksA)
		}
		return err
	})
	eventually(t, "b's route answered by each of its containers", time.Minute, func() error {
		seen, err := answers(e.base, enginesPathB, 10)
		if err == nil && !slices.Equal(slices.Sorted(maps.Keys(seen)), namesB) {
			err = fmt.Errorf("answered by %v, want each of %v", seen, namesB)
		}
		return err
	})
	for _, c := range []struct {
		path string
		ok   func(string) bool
	}{
		{enginesPathA, func(id string) bool { return ofTasks(id, tasksA) }},
		{enginesPathB, func(id string) bool { return slices.Contains(namesB, id) }},
	} {
		seen, err := answers(e.base, c.path, 100)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for id, n := range seen {
			if !c.ok(id) {
				t.Errorf("%s: %d of 100 answers from %s, which is not this route's engine's replica (answers: %v)", c.path, n, id, seen)
				ok = false
			}
		}
		if ok {
			step("%s answered 100 of 100 times by its engine's replicas: %v", c.path, seen)
		}
	}

	routes := e.checkRoutes(t, pid, namesB)
	step("routes API: %s", routes)
	fmt.Fprintf(&report, "  routes: %s; b's containers are at %s on b's bridge, where a's has decoys that the gateway reaches: none answered\n", routes, decoyAddrs)
	if states, err := engineStates(pid); err != nil || !states["a"].Reachable || !states["b"].Reachable {
		t.Fatalf("status before the outage: %v %v, want a and b reachable", states, err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Under load on both routes, b's docker-api stops; a changes, and so
	// does b, unseen; then b's docker-api returns.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loadA, loadB := make(chan []loadgen.Record, 1), make(chan []loadgen.Record, 1)
	go func() {
		loadA <- loadgen.Run(ctx, loadgen.Config{BaseURL: e.base, Prefix: enginesPathA, Rate: enginesRateA, Duration: 3 * time.Minute})
	}()
	go func() {
		loadB <- loadgen.Run(ctx, loadgen.Config{BaseURL: e.base, Prefix: enginesPathB, Rate: enginesRateB, Duration: 3 * time.Minute})
	}()
	time.Sleep(2 * time.Second)
	step("load: %d req/s on a's route, %d on b's", enginesRateA, enginesRateB)

	down := time.Now()
	e.onB(t, "stop", "-t", "2", e.dockerAPI)
	var lastError string
	seenDown := eventually(t, "the status shows b unreachable, a reachable", 30*time.Second, func() error {
		states, err := engineStates(pid)
		switch {
		case err != nil:
			return err
		case states["b"].Reachable || !states["a"].Reachable:
			return fmt.Errorf("status: %v", states)
		}
		lastError = states["b"].LastError
		return nil
	})
	step("b's docker-api stopped; the status shows b unreachable after %v (%q), a reachable", seenDown.Round(time.Millisecond), lastError)

	const unseen = "multiply-b-3"
	e.runB(t, unseen)
	e.requireDecoys(t, pid, unseen)
	mustDocker(t, "service", "scale", "--detach", enginesSvcA+"=2")
	var added string
	eventually(t, "a's second replica running", time.Minute, func() error {
		for id := range runningTasks(t, enginesSvcA) {
			if !tasksA[id] && taskRunning(t, id) {
				added = id
				return nil
			}
		}
		return fmt.Errorf("no new task of %s running yet", enginesSvcA)
	})
	running := taskStatusTime(t, added)
	var polledAdded time.Time // when a poll's request got the new replica's answer
	eventually(t, "a's second replica answering through the gateway", 30*time.Second, func() error {
		_, err := answeredBy(e.base, enginesPathA, func(id string) bool { return ofTasks(id, map[string]bool{added: true}) })
		if err == nil {
			polledAdded = time.Now()
		}
		return err
	})
	step("a scaled 1→2 during b's outage; its task %s ran at %s and answers through the gateway; b started %s, unseen", added, running.Format("15:04:05.000"), unseen)
	step("routes API during the outage, b's last known routes: %s", e.checkRoutes(t, pid, namesB))
	time.Sleep(2 * time.Second)

	up := time.Now()
	e.onB(t, "start", e.dockerAPI)
	seenUp := eventually(t, "the status shows b reachable again", time.Minute, func() error {
		states, err := engineStates(pid)
		if err == nil && !states["b"].Reachable {
			err = fmt.Errorf("status: %v", states)
		}
		return err
	})
	var routedUp time.Duration // from docker-api's start to unseen's first answer to a poll
	eventually(t, "b's change of its outage routed", time.Minute, func() error {
		_, err := answeredBy(e.base, enginesPathB, func(id string) bool { return id == unseen })
		if err == nil {
			routedUp = time.Since(up)
		}
		return err
	})
	step("b's docker-api back: reachable after %v; %s answers through the gateway %v after it started", seenUp.Round(time.Millisecond), unseen, routedUp.Round(time.Millisecond))
	allB := append(slices.Clone(namesB), unseen)
	step("routes API after the outage: %s", e.checkRoutes(t, pid, allB))
	time.Sleep(time.Second)
	cancel()
	recsA, recsB := <-loadA, <-loadB

	// The outcome, from every request's record.
	sortByDone := func(a, b loadgen.Record) int { return a.Done().Compare(b.Done()) }
	slices.SortFunc(recsA, sortByDone)
	slices.SortFunc(recsB, sortByDone)
	first := func(recs []loadgen.Record, ok func(string) bool) time.Time {
		for _, r := range recs {
			if !r.Failed() && ok(r.ServiceID) {
				return r.Done()
			}
		}
		return time.Time{}
	}
	// The new replica's first answer, to the load or to the poll, whichever
	// came first: what is timed is routing, not the balancing policy's
	// turn (with Caddy's round_robin, whose one counter served both routes,
	// the loads' interleaving kept one replica of b unused; the shipped
	// swarm_round_robin turns per route).
	firstAdded := first(recsA, func(id string) bool { return ofTasks(id, map[string]bool{added: true}) })
	if firstAdded.IsZero() || polledAdded.Before(firstAdded) {
		firstAdded = polledAdded
	}
	converged := firstAdded.Sub(running)
	tasksA[added] = true
	strays := map[string]int{}
	outage := map[string]int{}
	outageFailed := 0
	for _, r := range recsA {
		if !r.Failed() && !ofTasks(r.ServiceID, tasksA) {
			strays[enginesPathA+" from "+r.ServiceID]++
		}
	}
	for _, r := range recsB {
		if !r.Failed() && !slices.Contains(allB, r.ServiceID) {
			strays[enginesPathB+" from "+r.ServiceID]++
		}
		if r.Sent.After(down) && r.Done().Before(up) {
			if r.Failed() {
				outageFailed++
			} else {
				outage[r.ServiceID]++
			}
		}
	}
	sa, sb := loadgen.Summarize(recsA), loadgen.Summarize(recsB)
	fmt.Fprintf(&report, "  b's docker-api stopped for %v under load (a %d req/s, b %d req/s); the status showed b unreachable after %v\n",
		up.Sub(down).Round(100*time.Millisecond), enginesRateA, enginesRateB, seenDown.Round(time.Millisecond))
	fmt.Fprintf(&report, "  a scaled 1→2 during the outage: its new replica's first answer through the gateway %v after it ran (want ≤ %v)\n",
		converged.Round(time.Millisecond), enginesConverge)
	fmt.Fprintf(&report, "  b's route during the outage: %d answered by its last known containers %v, %d failed\n", sum(outage), outage, outageFailed)
	fmt.Fprintf(&report, "  b back: reachable %v after docker-api started; %s (started during the outage) answering within %v of it\n",
		seenUp.Round(time.Millisecond), unseen, routedUp.Round(time.Millisecond))
	fmt.Fprintf(&report, "  requests: a's route %d sent, %d failed; b's route %d sent, %d failed; answered by another engine's container or a decoy: %d\n",
		sa.Sent, sa.Failed, sb.Sent, sb.Failed, sum(strays))
	t.Log("\n" + report.String())
	writeFile(t, "engines.txt", report.String())

	if sa.Failed > 0 {
		t.Errorf("a's route: %v, want none failed while b was unreachable", measureGap(recsA))
	}
	if sb.Failed > 0 {
		t.Errorf("b's route: %v, want none failed: its containers ran throughout", measureGap(recsB))
	}
	if len(strays) > 0 {
		t.Errorf("answers from replicas not of the route's engine: %v", strays)
	}
	if converged > enginesConverge {
		t.Errorf("a's new replica's first answer came %v after it ran (at %s), with b unreachable; want at most %v",
			converged.Round(time.Millisecond), running.Format("15:04:05.000"), enginesConverge)
	}
	if sum(outage) == 0 || outageFailed > 0 || outage[unseen] > 0 {
		t.Errorf("b's route during the outage: answers %v, %d failed; want b's last known containers %v to answer, and none to fail", outage, outageFailed, namesB)
	}
}

// requireDecoys checks that each of b's containers has an address on b's
// default bridge that, on a's default bridge, a decoy holds (a multiply
// container that no label routes, answering as decoy-<n>), and that the
// gateway (process pid) reaches that decoy there, as it would if it
// dialled b's container at that address. It returns the addresses.
func (e enginesEnv) requireDecoys(t *testing.T, pid int, names ...string) string {
	t.Helper()
	holders := map[string]string{}
	out := mustDocker(t, "network", "inspect", "bridge", "--format", `{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\n"}}{{end}}`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			holders[strings.Split(f[1], "/")[0]] = f[0]
		}
	}
	var addrs []string
	for _, n := range names {
		ip := strings.TrimSpace(e.onB(t, "inspect", "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}", n))
		if h := holders[ip]; !strings.HasPrefix(h, "decoy-") {
			t.Fatalf("b's %s is at %s on b's bridge; on a's bridge that address is held by %q, want a decoy (a's bridge: %v; raise engines_decoys in scripts/cluster.sh)", n, ip, h, holders)
		}
		body, err := getInNetns(pid, "http://"+net.JoinHostPort(ip, "8080")+"/api/v1/add?x=10&y=25")
		var r loadgen.Reply
		if err == nil {
			err = json.Unmarshal(body, &r)
		}
		if err != nil || r.Data.ServiceID != holders[ip] {
			t.Fatalf("from the gateway's network namespace, %s:8080 answered %q (%v), want decoy %s", ip, body, err, holders[ip])
		}
		addrs = append(addrs, ip)
	}
	return strings.Join(addrs, ", ")
}

// enginesRoute is a route of the routes API, as this test reads it.
type enginesRoute struct {
	Engine   string `json:"engine"`
	Prefix   string `json:"prefix"`
	Service  string `json:"service"`
	Replicas []struct {
		Task    string `json:"task"`
		Address string `json:"address"`
	} `json:"replicas"`
}

// checkRoutes reads the gateway's routes: a's route must be engine a's,
// with replicas at addresses on a's overlay; b's engine b's, with one
// replica per container, at b's host and the port it publishes there. It
// returns a line that says what it saw.
func (e enginesEnv) checkRoutes(t *testing.T, pid int, namesB []string) string {
	t.Helper()
	body, err := adminGet(pid, "/swarm/routes")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Routes []enginesRoute `json:"routes"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding /swarm/routes: %v: %s", err, body)
	}
	overlay, err := netip.ParsePrefix(strings.TrimSpace(mustDocker(t, "network", "inspect", e.network, "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}")))
	if err != nil {
		t.Fatalf("%s's subnet: %v", e.network, err)
	}
	var wantB []string
	for _, c := range namesB {
		wantB = append(wantB, net.JoinHostPort(e.bHost, publishedPort(t, e, c)))
	}
	slices.Sort(wantB)
	var seen []string
	for _, r := range v.Routes {
		var addrs []string
		for _, rep := range r.Replicas {
			addrs = append(addrs, rep.Address)
		}
		slices.Sort(addrs)
		seen = append(seen, fmt.Sprintf("%s engine %s %v", r.Prefix, r.Engine, addrs))
		switch r.Prefix {
		case enginesPathA:
			if r.Engine != "a" || len(addrs) == 0 {
				t.Errorf("route %s: engine %q, replicas %v; want engine a's, with replicas", r.Prefix, r.Engine, addrs)
			}
			for _, addr := range addrs {
				if ap, err := netip.ParseAddrPort(addr); err != nil || !overlay.Contains(ap.Addr()) {
					t.Errorf("route %s: replica at %s, want an address on a's overlay %s (%s)", r.Prefix, addr, e.network, overlay)
				}
			}
		case enginesPathB:
			if r.Engine != "b" || !slices.Equal(addrs, wantB) {
				t.Errorf("route %s: engine %q, replicas %v; want engine b's, at %v (b's host and each container's published port)", r.Prefix, r.Engine, addrs, wantB)
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("routes API: %v, want the routes %s and %s only", seen, enginesPathA, enginesPathB)
	}
	return strings.Join(seen, "; ")
}

// publishedPort is the host port b's container publishes 8080 on.
func publishedPort(t *testing.T, e enginesEnv, name string) string {
	t.Helper()
	out := e.onB(t, "inspect", "--format", `{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}`, name)
	return strings.TrimSpace(out)
}

// engineState is an engine of /swarm/status, as this test reads it.
type engineState struct {
	Reachable bool
	LastError string
}

// engineStates reads the gateway's /swarm/status: each engine's Docker
// API state, by name.
func engineStates(pid int) (map[string]engineState, error) {
	body, err := adminGet(pid, "/swarm/status")
	if err != nil {
		return nil, err
	}
	var v struct {
		Engines []struct {
			Name      string `json:"name"`
			DockerAPI struct {
				Reachable bool   `json:"reachable"`
				LastError string `json:"last_error"`
			} `json:"docker_api"`
		} `json:"engines"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decoding /swarm/status: %w: %s", err, body)
	}
	states := map[string]engineState{}
	for _, en := range v.Engines {
		states[en.Name] = engineState{Reachable: en.DockerAPI.Reachable, LastError: en.DockerAPI.LastError}
	}
	return states, nil
}

// bridgeSubnet is the subnet of an engine's default bridge (host "" for
// DOCKER_HOST's).
func bridgeSubnet(t *testing.T, host string) netip.Prefix {
	t.Helper()
	args := []string{"network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}
	if host != "" {
		args = append([]string{"-H", host}, args...)
	}
	out := strings.Fields(mustDocker(t, args...))
	if len(out) == 0 {
		t.Fatalf("engine %s: its default bridge has no subnet", cmp.Or(host, "a"))
	}
	p, err := netip.ParsePrefix(out[0])
	if err != nil {
		t.Fatalf("engine %s's bridge subnet: %v", cmp.Or(host, "a"), err)
	}
	return p
}

// ofTasks reports whether a replica's SERVICE_ID (a task's name,
// <service>.<slot>.<task ID>) is of one of the tasks.
func ofTasks(serviceID string, tasks map[string]bool) bool {
	i := strings.LastIndexByte(serviceID, '.')
	return i >= 0 && tasks[serviceID[i+1:]]
}

// taskRunning reports whether swarm has the task running.
func taskRunning(t *testing.T, id string) bool {
	out, err := docker(t, 30*time.Second, "inspect", "--format", "{{.Status.State}}", id)
	return err == nil && strings.TrimSpace(out) == "running"
}

// taskStatusTime is when the task's status last changed: for a running
// task, when swarm saw it run.
func taskStatusTime(t *testing.T, id string) time.Time {
	t.Helper()
	var ts time.Time
	if err := json.Unmarshal([]byte(mustDocker(t, "inspect", "--format", "{{json .Status.Timestamp}}", id)), &ts); err != nil {
		t.Fatalf("task %s's status time: %v", id, err)
	}
	return ts
}

// answers sends n requests to a route and counts its replicas' answers.
func answers(base, prefix string, n int) (map[string]int, error) {
	seen := map[string]int{}
	for range n {
		id, err := replicaAt(base, prefix)
		if err != nil {
			return seen, err
		}
		seen[id]++
	}
	return seen, nil
}

// answeredBy asks a route until a replica that ok accepts answers, up to
// 20 times, and returns it.
func answeredBy(base, prefix string, ok func(string) bool) (string, error) {
	var seen []string
	for range 20 {
		id, err := replicaAt(base, prefix)
		if err != nil {
			return "", err
		}
		if ok(id) {
			return id, nil
		}
		seen = append(seen, id)
	}
	return "", fmt.Errorf("%s answered by %v", prefix, seen)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
