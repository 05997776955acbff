package e2e

// This file proves that several gateways scale a service as one (issue 25,
// docs/scaling.md, docs/peers.md) on the three-node cluster of
// scripts/cluster.sh: the two worker gateways find each other
// (FAAS_PEERS: tasks.gateway), exactly one of them decides, the count
// follows the load of both, and when the deciding gateway stops the other
// takes over without losing a request or the count.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The load: multiply holds each answer 1 s, and the count's target is 2
// requests in flight per replica, so 20 requests/s (20 in flight) call for
// 10 replicas; 80 % of them go to the gateway that does not decide, whose
// share alone calls for 8, and the deciding gateway's 20 % for 2.
const (
	cscaleDelay  = time.Second
	cscaleTarget = 2
	cscaleMax    = 16
	cscaleRate   = 20
	cscaleShare  = 80 // percent of the direct load sent to the gateway that does not decide
	cscaleWant   = cscaleRate * int(cscaleDelay/time.Second) / cscaleTarget
	// cscaleElect bounds the time from both gateways showing the route
	// to exactly one of them saying it decides.
	cscaleElect = 15 * time.Second
	// cscaleReach bounds the time from the load starting to the count
	// first reaching cscaleWant-1.
	cscaleReach = 30 * time.Second
	// cscaleSteady is how long the count is watched in steady load, once
	// reached; cscaleAfter how long after the takeover (more than the
	// autoscaler's 30 s scale-down delay, so a fall would show).
	cscaleSteady = 30 * time.Second
	cscaleAfter  = 40 * time.Second
	// cscaleTakeover bounds the time from the deciding gateway's container
	// exiting to the other saying it decides: the peers' bound,
	// interval × (misses + 1) = 4 s, plus a poll's DNS answer.
	cscaleTakeover = 5 * time.Second
	// cscaleStop bounds the time from draining the deciding gateway's
	// node to the other deciding: its shutdown (shutdown_delay 5 s, then
	// its requests in flight, 1 s) and cscaleTakeover.
	cscaleStop = 15 * time.Second
	// cscaleOverlap bounds the time both gateways say they decide as the
	// leader stops: the two nodes' DNS answers and polls (1 s) apart.
	cscaleOverlap = 2 * time.Second
)

func TestClusterScaling(t *testing.T) {
	c := clusterFromEnv(t)
	requireSwarm(t)
	image := os.Getenv("MULTIPLY_IMAGE")
	engines := strings.Split(os.Getenv("FAAS_CLUSTER_ENGINES"), ",")
	if image == "" || len(engines) != len(c.gateways) || len(c.gateways) != 2 {
		t.Fatal("scripts/cluster.sh sets MULTIPLY_IMAGE, and FAAS_CLUSTER_ENGINES with the engine of each of the 2 FAAS_CLUSTER_GATEWAYS")
	}
	step := func(format string, args ...any) {
		t.Helper()
		t.Logf("step %s: %s", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	gws := make([]clusterGateway, len(c.gateways))
	for i, addr := range c.gateways {
		gws[i] = clusterGateway{addr: addr, engine: engines[i], service: c.stack + "_gateway"}
	}

	// 1. The service, its replicas on the manager only, so that draining
	// a gateway's node (step 4) moves no replica and the count is the
	// autoscaler's alone.
	const prefix = "/elastic"
	svc := c.stack + "_elastic"
	if out, err := docker(t, 3*time.Minute, "service", "create", "--detach", "--name", svc, "--replicas", "1",
		"--network", c.stack+"_net", "--constraint", "node.role==manager", "--stop-grace-period", "10s",
		"--env", "SERVICE_ID={{.Task.Name}}.{{.Task.ID}}", "--env", "RESPONSE_DELAY="+cscaleDelay.String(),
		"--label", "faas.enable=true", "--label", "faas.path="+prefix, "--label", "faas.port=8080",
		"--label", "faas.scale.min=1", "--label", fmt.Sprintf("faas.scale.max=%d", cscaleMax),
		"--label", fmt.Sprintf("faas.scale.target=%d", cscaleTarget), image); err != nil {
		t.Fatalf("creating %s: %v\n%s", svc, err, out)
	}
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", svc) })
	for _, gw := range gws {
		eventually(t, prefix+" answers through "+gw.addr, 3*time.Minute, func() error {
			_, err := replicaAt("http://"+gw.addr, prefix)
			return err
		})
	}
	step("%s (multiply, RESPONSE_DELAY %v, scale 1..%d, target %d) answers through both gateways", svc, cscaleDelay, cscaleMax, cscaleTarget)

	// 2. Exactly one gateway decides.
	views := sampleViews(t, gws, prefix)
	var leader, other int
	elected := eventually(t, "exactly one gateway decides", cscaleElect, func() error {
		var err error
		leader, err = views.soleLeader(time.Now().Add(-time.Second))
		return err
	})
	other = 1 - leader
	step("exactly one gateway decides, after %v: %s (leader=true), %s (leader=false)", elected.Round(time.Millisecond), gws[leader].addr, gws[other].addr)

	// 3. Load split 80/20 between the gateways, directly.
	cli := newDockerClient(t)
	counts := sampleReplicas(t, cli, svc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type run struct {
		name string
		recs chan []loadgen.Record
		stop context.CancelFunc
	}
	var all []loadgen.Record
	start := func(name, base string, rate int) run {
		ctx, stop := context.WithCancel(ctx)
		r := run{name: name, recs: make(chan []loadgen.Record, 1), stop: stop}
		go func() {
			r.recs <- loadgen.Run(ctx, loadgen.Config{BaseURL: base, Prefix: prefix, Rate: rate, Duration: 5 * time.Minute})
		}()
		return r
	}
	end := func(r run) loadgen.Summary {
		r.stop()
		recs := <-r.recs
		all = append(all, recs...)
		s := loadgen.Summarize(recs)
		if s.Failed > 0 {
			t.Errorf("%s: %d of %d requests failed: %v", r.name, s.Failed, s.Sent, s.Errors)
		}
		return s
	}
	high, low := cscaleRate*cscaleShare/100, cscaleRate*(100-cscaleShare)/100
	loadStart := time.Now()
	direct := []run{start("direct to the other", "http://"+gws[other].addr, high), start("direct to the leader", "http://"+gws[leader].addr, low)}
	step("load: %d req/s to %s, %d to %s (the leader), directly: %d in flight call for %d replicas, the other's share alone for %d, the leader's for %d",
		high, gws[other].addr, low, gws[leader].addr, cscaleRate, cscaleWant, high/cscaleTarget, low/cscaleTarget)
	reached := eventually(t, fmt.Sprintf("the count at %d or more", cscaleWant-1), cscaleReach, func() error {
		if n := counts.at(time.Now()); n < uint64(cscaleWant-1) {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	steadyFrom := time.Now().Add(5 * time.Second) // a panic step may still be under way
	time.Sleep(5*time.Second + cscaleSteady)
	steadyTo := time.Now()
	steady := counts.between(steadyFrom, steadyTo)
	step("the count reached %d %v after the load started; in the next %v of steady load: %d..%d replicas (decided: leader %d, other %d; the leader's reason: %s)",
		cscaleWant-1, reached.Round(100*time.Millisecond), cscaleSteady, slices.Min(steady), slices.Max(steady),
		views.last(leader).Decided, views.last(other).Decided, views.last(leader).Reason)
	if n := views.leaders(loadStart, time.Now()); n != 1 {
		t.Errorf("under the split load %d gateways said they decide at some time, want the same 1", n)
	}

	// 4. The same load through the stand-in load balancer; the deciding
	// gateway's node drained, which stops that gateway (gracefully) and
	// nothing else; the other must take over, losing no request and
	// keeping the count.
	startLB(t, c)
	lbURL := "http://" + c.lbListen
	eventually(t, "the load balancer answers", time.Minute, func() error {
		_, err := replicaAt(lbURL, prefix)
		return err
	})
	lb := start("through the load balancer", lbURL, cscaleRate)
	directSums := []loadgen.Summary{end(direct[0]), end(direct[1])}
	steadyInFlight := inFlight(all, steadyFrom, steadyTo)
	checkCount(t, "in steady split load", steady, steadyInFlight, high/cscaleTarget)
	time.Sleep(5 * time.Second)
	oldID, _, err := gws[leader].container(t)
	if err != nil {
		t.Fatal(err)
	}
	node := strings.TrimSpace(mustDocker(t, "-H", gws[leader].engine, "info", "--format", "{{.Swarm.NodeID}}"))
	drained := time.Now()
	mustDocker(t, "node", "update", "--availability", "drain", node)
	t.Cleanup(func() { restoreNode(t, c, gws[leader], node) })
	step("%s's node %s drained (its gateway stops), %d req/s through the load balancer", gws[leader].addr, node, cscaleRate)
	took := eventually(t, gws[other].addr+" decides", cscaleStop+10*time.Second, func() error {
		if v := views.last(other); !v.Leader {
			return fmt.Errorf("leader=%v", v.Leader)
		}
		return nil
	})
	tookOver := drained.Add(took)
	exited, err := gws[leader].finishedAt(t, oldID)
	if err != nil {
		t.Error(err)
	}
	afterExit := tookOver.Sub(exited)
	step("%s decides %v after the drain, %v after the old leader's container exited (%s)",
		gws[other].addr, took.Round(100*time.Millisecond), afterExit.Round(100*time.Millisecond), exited.Format("15:04:05.000"))
	time.Sleep(cscaleAfter)
	afterTo := time.Now()
	after := counts.between(drained, afterTo)
	all = nil
	lbSum := end(lb)
	afterInFlight := inFlight(all, drained, afterTo)
	overlap := views.overlap(leader, other, drained)
	step("from the drain to %v after the takeover: %d..%d replicas (decided: %d, %.1f in flight measured; reason: %s); both said they decide for %v; through the load balancer %d sent, %d failed",
		cscaleAfter, slices.Min(after), slices.Max(after), views.last(other).Decided, afterInFlight, views.last(other).Reason,
		overlap.Round(10*time.Millisecond), lbSum.Sent, lbSum.Failed)
	checkCount(t, "after the deciding gateway stopped", after, afterInFlight, 0)
	if overlap > cscaleOverlap {
		t.Errorf("both gateways said they decide for %v as the leader stopped, want at most %v", overlap, cscaleOverlap)
	}
	if took > cscaleStop {
		t.Errorf("%s decided %v after the drain, want within %v", gws[other].addr, took, cscaleStop)
	}
	if !exited.IsZero() && afterExit > cscaleTakeover {
		t.Errorf("%s decided %v after the old leader exited, want within %v", gws[other].addr, afterExit, cscaleTakeover)
	}

	var table strings.Builder
	fmt.Fprintf(&table, "scaling on the 3-node cluster: 2 worker gateways (FAAS_PEERS tasks.gateway), multiply held %v, target %d in flight per replica, %d req/s (%d in flight: %d replicas)\n",
		cscaleDelay, cscaleTarget, cscaleRate, cscaleRate, cscaleWant)
	fmt.Fprintf(&table, "  one leader:          %v after both gateways showed the route\n", elected.Round(time.Millisecond))
	fmt.Fprintf(&table, "  split %d/%d direct:  %d req/s to the other, %d to the leader (%d and %d sent, %d and %d failed); reached %d replicas in %v; steady %v: %d..%d at %.1f in flight measured (the other's share alone: %d, the leader's: %d)\n",
		cscaleShare, 100-cscaleShare, high, low, directSums[0].Sent, directSums[1].Sent, directSums[0].Failed, directSums[1].Failed,
		cscaleWant-1, reached.Round(100*time.Millisecond), cscaleSteady, slices.Min(steady), slices.Max(steady), steadyInFlight, high/cscaleTarget, low/cscaleTarget)
	fmt.Fprintf(&table, "  leader's node drained under %d req/s through the load balancer: the other decides %v after the drain, %v after the old leader exited (bound %v), both for %v; %d sent, %d failed; count from the drain to %v after: %d..%d at %.1f in flight measured\n",
		cscaleRate, took.Round(100*time.Millisecond), afterExit.Round(100*time.Millisecond), cscaleTakeover, overlap.Round(10*time.Millisecond),
		lbSum.Sent, lbSum.Failed, cscaleAfter, slices.Min(after), slices.Max(after), afterInFlight)
	t.Log("\n" + table.String())
	writeFile(t, "cluster-scaling.txt", table.String())
}

// checkCount checks that the counts sampled settled within one step of
// what the requests in flight call for, nominally (cscaleWant) or as
// measured (each answer takes a little more than multiply's delay),
// moved by one step at most, and stayed above share, what one gateway's
// share alone calls for.
func checkCount(t *testing.T, when string, counts []uint64, measured float64, share int) {
	t.Helper()
	lo, hi := slices.Min(counts), slices.Max(counts)
	want := max(cscaleWant, int(math.Ceil(measured/cscaleTarget-1e-9)))
	if lo < uint64(cscaleWant-1) || hi > uint64(want+1) || hi-lo > 1 {
		t.Errorf("%s the count moved from %d to %d, want within one step of %d..%d (%d requests/s of %v: %.1f in flight measured, target %d): %v",
			when, lo, hi, cscaleWant, want, cscaleRate, cscaleDelay, measured, cscaleTarget, counts)
	}
	if lo <= uint64(share) {
		t.Errorf("%s the count fell to %d, what one gateway's share alone calls for (%d)", when, lo, share)
	}
}

// inFlight is the mean of the requests in flight from from to to,
// measured from the records (Little's law: the time they spent in that
// span, over its length).
func inFlight(recs []loadgen.Record, from, to time.Time) float64 {
	var busy time.Duration
	for _, r := range recs {
		start, end := r.Sent, r.Done()
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if end.After(start) {
			busy += end.Sub(start)
		}
	}
	return busy.Seconds() / to.Sub(from).Seconds()
}

// restoreNode makes the drained node active again and waits until its
// gateway is back and every gateway is ready, for the tests after.
func restoreNode(t *testing.T, c clusterEnv, gw clusterGateway, node string) {
	mustDocker(t, "node", "update", "--availability", "active", node)
	eventually(t, "the gateway of "+gw.addr+" back and every gateway ready", 2*time.Minute, func() error {
		if _, _, err := gw.container(t); err != nil {
			return err
		}
		return gatewaysReady(c)
	})
}

// clusterGateway is one worker's gateway: its address, and the engine of
// its node, where its container runs.
type clusterGateway struct {
	addr, engine, service string
}

// container returns the ID and process of the gateway's running container.
func (g clusterGateway) container(t *testing.T) (string, int, error) {
	out, err := docker(t, 20*time.Second, "-H", g.engine, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+g.service)
	if err != nil {
		return "", 0, err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", 0, fmt.Errorf("%d running containers of %s on %s, want 1", len(ids), g.service, g.engine)
	}
	out, err = docker(t, 20*time.Second, "-H", g.engine, "inspect", "--format", "{{.State.Pid}}", ids[0])
	if err != nil {
		return "", 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	return ids[0], pid, err
}

// finishedAt is when the container exited.
func (g clusterGateway) finishedAt(t *testing.T, id string) (time.Time, error) {
	var at time.Time
	var err error
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var out string
		out, err = docker(t, 20*time.Second, "-H", g.engine, "inspect", "--format", "{{.State.Running}} {{.State.FinishedAt}}", id)
		if f := strings.Fields(out); err == nil && len(f) == 2 && f[0] == "false" {
			return time.Parse(time.RFC3339Nano, f[1])
		}
		time.Sleep(time.Second)
	}
	return at, fmt.Errorf("container %s of %s did not exit: %v", id, g.addr, err)
}

// routeScaling is what the test reads of a route's scaling object in the
// routes API.
type routeScaling struct {
	State   string `json:"state"`
	Running uint64 `json:"running"`
	Desired uint64 `json:"desired"`
	Decided uint64 `json:"decided"`
	Reason  string `json:"reason"`
	Leader  bool   `json:"leader"`
}

// scalingSample is a gateway's routes API's scaling object for a route,
// at a time.
type scalingSample struct {
	at time.Time
	routeScaling
}

// viewSamples are each gateway's scaling objects for one route, read
// every 250 ms until the test ends.
type viewSamples struct {
	mu      sync.Mutex
	samples [][]scalingSample // by gateway
}

// sampleViews reads each gateway's routes API every 250 ms until the test ends.
func sampleViews(t *testing.T, gws []clusterGateway, prefix string) *viewSamples {
	v := &viewSamples{samples: make([][]scalingSample, len(gws))}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, gw := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				if s, err := gw.scaling(t, prefix); err == nil {
					v.mu.Lock()
					v.samples[i] = append(v.samples[i], scalingSample{at: time.Now(), routeScaling: s})
					v.mu.Unlock()
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return v
}

// scaling reads the route's scaling object from the gateway's routes API.
func (g clusterGateway) scaling(t *testing.T, prefix string) (routeScaling, error) {
	_, pid, err := g.container(t)
	if err != nil {
		return routeScaling{}, err
	}
	body, err := adminGet(pid, "/swarm/routes")
	if err != nil {
		return routeScaling{}, err
	}
	var v struct {
		Routes []struct {
			Prefix  string        `json:"prefix"`
			Scaling *routeScaling `json:"scaling"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return routeScaling{}, fmt.Errorf("decoding the routes API of %s: %w", g.addr, err)
	}
	for _, r := range v.Routes {
		if r.Prefix == prefix && r.Scaling != nil {
			return *r.Scaling, nil
		}
	}
	return routeScaling{}, fmt.Errorf("%s shows no scaled route %s", g.addr, prefix)
}

// last is gateway i's last sample (zero before the first).
func (v *viewSamples) last(i int) routeScaling {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.samples[i]); n > 0 {
		return v.samples[i][n-1].routeScaling
	}
	return routeScaling{}
}

// soleLeader returns the one gateway whose samples since say it decides,
// when every sample of the other says it does not.
func (v *viewSamples) soleLeader(since time.Time) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	leader := -1
	var says []string
	for i, ss := range v.samples {
		yes, no := 0, 0
		for _, s := range ss {
			if s.at.Before(since) {
				continue
			}
			if s.Leader {
				yes++
			} else {
				no++
			}
		}
		says = append(says, fmt.Sprintf("gateway %d: %d samples leader=true, %d false", i, yes, no))
		switch {
		case yes+no == 0 || (yes > 0 && no > 0):
			return -1, fmt.Errorf("%s", strings.Join(says, "; "))
		case yes > 0 && leader >= 0:
			return -1, fmt.Errorf("both decide: %s", strings.Join(says, "; "))
		case yes > 0:
			leader = i
		}
	}
	if leader < 0 {
		return -1, fmt.Errorf("none decides: %s", strings.Join(says, "; "))
	}
	return leader, nil
}

// overlap is how long after since both gateways a and b said they
// decide: from b's first leader=true sample to a's last, when a's last
// came later.
func (v *viewSamples) overlap(a, b int, since time.Time) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	var lastA, firstB time.Time
	for _, s := range v.samples[a] {
		if s.Leader && s.at.After(since) {
			lastA = s.at
		}
	}
	for _, s := range v.samples[b] {
		if s.Leader && s.at.After(since) {
			firstB = s.at
			break
		}
	}
	if lastA.IsZero() || firstB.IsZero() || !lastA.After(firstB) {
		return 0
	}
	return lastA.Sub(firstB)
}

// leaders counts the gateways that said they decide at some time from
// from to to.
func (v *viewSamples) leaders(from, to time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, ss := range v.samples {
		if slices.ContainsFunc(ss, func(s scalingSample) bool { return s.Leader && !s.at.Before(from) && !s.at.After(to) }) {
			n++
		}
	}
	return n
}
