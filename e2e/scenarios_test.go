package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// Scenario targets, from the issue that asked for them.
const (
	targetJoin = 500 * time.Millisecond // new replica serving, p99
	targetDrop = 500 * time.Millisecond // old replica dropped, p99
)

// apiSv is the stack's docker-api (stack.cluster.yml).
var apiSv = stackName + "_docker-api"

// scenarioSize is the full run (`make scenarios`) or CI's shorter one.
type scenarioSize struct {
	rate   int           // requests per second, to each of gateway and reference
	outage time.Duration // how long the Docker API stays away
}

func sizeFromEnv() (scenarioSize, string) {
	if os.Getenv("SCENARIOS") == "full" {
		return scenarioSize{rate: 200, outage: 30 * time.Second}, "full"
	}
	return scenarioSize{rate: 100, outage: 10 * time.Second}, "short (SCENARIOS=full for the full run)"
}

// outcome is what one target saw in one scenario.
type outcome struct {
	sum       loadgen.Summary
	joins     []time.Duration // per new task: running -> first response from it
	notJoined int             // new tasks never seen answering
	drops     []time.Duration // per old task: desired state left running -> last request sent to it
}

// analyse matches the records against the tasks that started or stopped
// between from and to.
func analyse(recs []loadgen.Record, tasks []taskLife, from, to time.Time) outcome {
	o := outcome{sum: loadgen.Summarize(recs)}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for _, r := range recs {
		if r.Failed() {
			continue
		}
		id := taskIDOf(r.ServiceID)
		if f, ok := first[id]; !ok || r.Done().Before(f) {
			first[id] = r.Done()
		}
		if r.Sent.After(last[id]) {
			last[id] = r.Sent
		}
	}
	for _, tk := range tasks {
		if !tk.RunningAt.IsZero() && tk.RunningAt.After(from) && tk.RunningAt.Before(to) {
			// A task stopped within a second of starting had no fair chance.
			if !tk.LeftAt.IsZero() && tk.LeftAt.Sub(tk.RunningAt) < time.Second {
				continue
			}
			if f, ok := first[tk.ID]; ok {
				o.joins = append(o.joins, max(0, f.Sub(tk.RunningAt)))
			} else {
				o.notJoined++
			}
		}
		if !tk.LeftAt.IsZero() && !tk.RunningAt.IsZero() && tk.LeftAt.After(from) && tk.LeftAt.Before(to) {
			o.drops = append(o.drops, max(0, last[tk.ID].Sub(tk.LeftAt)))
		}
	}
	slices.Sort(o.joins)
	slices.Sort(o.drops)
	return o
}

// scenarioEnv is the deployed scenario stack and its instruments.
type scenarioEnv struct {
	t     *testing.T
	size  scenarioSize
	clock *taskClock
	since time.Time // when the current scenario's load started
	// labelChanges are the times from a label change to the route it makes
	// or removes answering.
	labelChanges []time.Duration
}

// scale sets multiply's replicas and waits until that many tasks run and
// no other is still meant to.
func (e *scenarioEnv) scale(n int) {
	e.t.Helper()
	mustDocker(e.t, "service", "scale", "--detach", fmt.Sprintf("%s=%d", multiplySv, n))
	eventually(e.t, fmt.Sprintf("%d replicas running", n), time.Minute, func() error {
		if got, err := e.clock.running(); got != n {
			return fmt.Errorf("%d running (last poll error: %v)", got, err)
		}
		return nil
	})
}

// scenario is one change made under load.
type scenario struct {
	name   string
	start  int // replicas serving before the load starts
	action func(e *scenarioEnv)
	check  func(e *scenarioEnv, gw outcome) // extra assertions
}

// TestScenarios runs each scenario under constant load, through the
// gateway and, at the same time, through the reference (stock Caddy with
// `dynamic a tasks.<service>`), and prints one table of both.
func TestScenarios(t *testing.T) {
	requireSwarm(t)
	size, sizeName := sizeFromEnv()
	makeCerts(t)
	deployStack(t, "stack.cluster.yml", "e2e/testdata/reference.yml", "e2e/testdata/scenarios.yml")
	eventually(t, "gateway answers", 3*time.Minute, func() error { _, err := add(); return err })
	eventually(t, "reference answers", time.Minute, func() error {
		code, body, err := getFrom(localURL(refPort), "/multiply/api/v1/add?x=10&y=25")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		return err
	})
	e := &scenarioEnv{t: t, size: size, clock: watchTasks(t, newDockerClient(t), multiplySv)}
	t.Run("docker-api endpoint refuses what is not allowed", testDockerAPIEndpoint)
	t.Cleanup(func() { checkDockerAPILog(t) })

	scenarios := []scenario{
		{name: "scale 3→10→1", start: 3, action: func(e *scenarioEnv) {
			e.scale(10)
			time.Sleep(3 * time.Second)
			e.scale(1)
			time.Sleep(4 * time.Second)
		}},
		{name: "rolling restart, stop-first", start: 3, action: func(e *scenarioEnv) {
			mustDocker(e.t, "service", "update", "--force", "--detach=false", "--update-order", "stop-first", multiplySv)
			time.Sleep(4 * time.Second)
		}},
		// One replica, replaced stop-first: for a moment no replica runs, and
		// requests must wait for the new one within lb_try_duration.
		{name: "one replica, update stop-first", start: 1, action: func(e *scenarioEnv) {
			mustDocker(e.t, "service", "update", "--force", "--detach=false", "--update-order", "stop-first", multiplySv)
			time.Sleep(4 * time.Second)
		}},
		{name: "rolling restart, start-first", start: 3, action: func(e *scenarioEnv) {
			mustDocker(e.t, "service", "update", "--force", "--detach=false", "--update-order", "start-first", multiplySv)
			time.Sleep(4 * time.Second)
		}},
		{name: fmt.Sprintf("docker api gone %v, then scale 3→4", size.outage), start: 3, action: func(e *scenarioEnv) {
			stopDockerAPI(e.t)
			time.Sleep(e.size.outage)
			startDockerAPI(e.t)
			// Back: the gateway sees changes again.
			e.scale(4)
			time.Sleep(3 * time.Second)
		}, check: func(e *scenarioEnv, gw outcome) {
			if gw.notJoined > 0 || len(gw.joins) == 0 {
				e.t.Errorf("after the Docker API came back, the new replica was not served (joined %d, not %d)", len(gw.joins), gw.notJoined)
			}
			logs := gatewayLogs(e.t, e.since)
			for _, msg := range []string{"docker api unreachable; serving the last known routes and retrying", "docker api reachable again"} {
				if n := strings.Count(logs, `"msg":"`+msg+`"`); n != 1 {
					e.t.Errorf("the gateway logged %q %d times, want once", msg, n)
				}
			}
		}},
		{name: "host route added, then removed by label", start: 3, action: func(e *scenarioEnv) {
			// On a host no route claims, requests fall to the host-less
			// routes, so the extra route has a path of its own: gone, it
			// answers 404.
			const host, route = "extra.test", "faas.routes.extra."
			e.labelChange(host, http.StatusOK, "--label-add", route+"host="+host, "--label-add", route+"path=/extra")
			time.Sleep(2 * time.Second)
			e.labelChange(host, http.StatusNotFound, "--label-rm", route+"host", "--label-rm", route+"path")
			time.Sleep(2 * time.Second)
		}},
		{name: "bad label + duplicate prefix", start: 3, action: func(e *scenarioEnv) {
			for _, svc := range []struct{ name, labels string }{
				{stackName + "_badport", "faas.enable=true,faas.port=http"},
				{stackName + "_dup", "faas.enable=true,faas.port=8080,faas.path=/multiply"},
			} {
				createMultiply(e.t, svc.name, strings.Split(svc.labels, ","))
			}
			time.Sleep(10 * time.Second)
		}, check: func(e *scenarioEnv, gw outcome) {
			logs := gatewayLogs(e.t, e.since)
			for svc, want := range map[string]string{stackName + "_badport": `faas.port=\"http\"`, stackName + "_dup": "older service " + multiplySv} {
				n := 0
				for _, line := range strings.Split(logs, "\n") {
					if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, `"service":"`+svc+`"`) {
						n++
						if !strings.Contains(line, want) {
							e.t.Errorf("warning for %s does not say %q: %s", svc, want, line)
						}
					}
				}
				if n != 1 {
					e.t.Errorf("%d warnings for %s, want exactly 1", n, svc)
				}
			}
		}},
	}

	var table strings.Builder
	fmt.Fprintf(&table, "scenarios (%s): %d req/s to each target, mixed GET and POST\n", sizeName, size.rate)
	fmt.Fprintf(&table, "%-36s %-9s %7s %6s %9s %9s %9s %s\n", "scenario", "target", "sent", "failed", "join p50", "join p99", "drop p99", "verdict (failed = 0, join p99 ≤ 500ms, drop p99 ≤ 500ms)")
	for _, sc := range scenarios {
		ok := t.Run(sc.name, func(t *testing.T) {
			e.t = t
			e.scale(sc.start)
			time.Sleep(2 * time.Second) // every replica seen by both targets
			gw, ref := e.underLoad(sc.action)
			writeRow(&table, sc.name, "gateway", gw, true)
			writeRow(&table, "", "reference", ref, false)
			if gw.sum.Failed > 0 {
				t.Errorf("gateway: %d of %d requests failed: %v", gw.sum.Failed, gw.sum.Sent, gw.sum.Errors)
			}
			if gw.notJoined > 0 {
				t.Errorf("gateway: %d new replicas never answered", gw.notJoined)
			}
			if sc.check != nil {
				sc.check(e, gw)
			}
		})
		if !ok {
			fmt.Fprintf(&table, "%-36s (failed: see the test log)\n", "")
		}
	}
	if len(e.labelChanges) > 0 {
		fmt.Fprintf(&table, "a host route added, then removed, by a label change (target ≤ %v): routed live after", targetJoin)
		for _, d := range e.labelChanges {
			fmt.Fprintf(&table, " %v", d.Round(time.Millisecond))
		}
		table.WriteString("\n")
	}
	e.t = t
	t.Log("\n" + table.String())
	writeFile(t, "scenarios.txt", table.String())
}

// stopDockerAPI takes the stack's docker-api away, and waits until it is
// gone: it is global, and a constraint no node meets stops it.
func stopDockerAPI(t *testing.T) {
	t.Helper()
	mustDocker(t, "service", "update", "--detach", "--constraint-add", "node.labels.faas-e2e-nowhere==1", apiSv)
	eventually(t, "docker api endpoint gone", time.Minute, func() error {
		if out, _ := docker(t, 10*time.Second, "service", "ps", "-q", "--filter", "desired-state=running", apiSv); strings.TrimSpace(out) != "" {
			return fmt.Errorf("still running")
		}
		return nil
	})
}

// startDockerAPI brings back what stopDockerAPI took away, and waits until
// it runs.
func startDockerAPI(t *testing.T) {
	t.Helper()
	mustDocker(t, "service", "update", "--detach", "--constraint-rm", "node.labels.faas-e2e-nowhere==1", apiSv)
	eventually(t, "docker api endpoint back", time.Minute, func() error {
		out, _ := docker(t, 10*time.Second, "service", "ps", "--format", "{{.CurrentState}}", "--filter", "desired-state=running", apiSv)
		if !strings.HasPrefix(strings.TrimSpace(out), "Running") {
			return fmt.Errorf("state %q", strings.TrimSpace(out))
		}
		return nil
	})
}

// labelChange changes multiply's labels (with the docker service update
// flags given) and measures how long after the update returns a request
// for host and /extra gets want: a route added or removed live, with no reload and no
// task restarted. It fails above targetJoin.
func (e *scenarioEnv) labelChange(host string, want int, flags ...string) {
	e.t.Helper()
	mustDocker(e.t, append(append([]string{"service", "update", "--detach"}, flags...), multiplySv)...)
	start := time.Now()
	for {
		code, _, err := getHost(baseURL, host, "/extra/api/v1/add?x=10&y=25")
		if err == nil && code == want {
			break
		}
		if time.Since(start) > 10*time.Second {
			e.t.Fatalf("%s %v: %s still answers %d %v after 10s, want %d", strings.Join(flags, " "), multiplySv, host, code, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	e.t.Logf("%s: %s answers %d after %v", strings.Join(flags, " "), host, want, took.Round(time.Millisecond))
	e.labelChanges = append(e.labelChanges, took)
	if took > targetJoin {
		e.t.Errorf("label change %s took %v to route, want ≤ %v", strings.Join(flags, " "), took, targetJoin)
	}
}

// gatewayLogs returns the gateway's log since the time given.
func gatewayLogs(t *testing.T, since time.Time) string {
	return serviceLogs(t, gatewaySv, since)
}

// serviceLogs returns the logs, since the time given (zero: all), of every
// container a service has had on this node, running or exited, and fails
// the test if they cannot be read.
func serviceLogs(t *testing.T, service string, since time.Time) string {
	t.Helper()
	logs, err := readServiceLogs(t, service, since)
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// readServiceLogs reads what serviceLogs returns, with `docker logs`,
// container by container and each within a time limit: `docker service
// logs` can hang after a task was killed. Caddy logs to stderr, so both
// streams are read.
func readServiceLogs(t *testing.T, service string, since time.Time) (string, error) {
	t.Helper()
	ids, err := docker(t, 30*time.Second, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+service)
	if err != nil {
		return "", fmt.Errorf("listing the containers of %s: %w", service, err)
	}
	var all strings.Builder
	for _, id := range strings.Fields(ids) {
		args := []string{"logs"}
		if !since.IsZero() {
			args = append(args, "--since", since.UTC().Format(time.RFC3339Nano))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "docker", append(args, id)...).CombinedOutput()
		cancel()
		if err != nil {
			return "", fmt.Errorf("docker logs %s (of %s): %w\n%s", id, service, err, out)
		}
		all.Write(out)
	}
	return all.String(), nil
}

// underLoad runs action while sending load to the gateway and to the
// reference, and analyses both against the task lives.
func (e *scenarioEnv) underLoad(action func(*scenarioEnv)) (gw, ref outcome) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := func(target int) <-chan []loadgen.Record {
		c := make(chan []loadgen.Record, 1)
		go func() {
			c <- loadgen.Run(ctx, loadgen.Config{
				BaseURL: localURL(target), Host: scenarioHost, Prefix: "/multiply", Rate: e.size.rate, Duration: 5 * time.Minute,
			})
		}()
		return c
	}
	from := time.Now()
	e.since = from
	gwc, refc := run(gatewayPort), run(refPort)
	time.Sleep(time.Second)
	action(e)
	to := time.Now()
	cancel()
	recGW, recRef := <-gwc, <-refc
	tasks := e.clock.snapshot()
	return analyse(recGW, tasks, from, to), analyse(recRef, tasks, from, to)
}

func writeRow(w io.Writer, name, target string, o outcome, verdict bool) {
	pct := func(d []time.Duration, p float64) string {
		if len(d) == 0 {
			return "-"
		}
		return loadgen.Percentile(d, p).Round(time.Millisecond).String()
	}
	v := ""
	if verdict {
		var miss []string
		if o.sum.Failed > 0 {
			miss = append(miss, "failed")
		}
		if len(o.joins) > 0 && loadgen.Percentile(o.joins, 99) > targetJoin || o.notJoined > 0 {
			miss = append(miss, "join")
		}
		if len(o.drops) > 0 && loadgen.Percentile(o.drops, 99) > targetDrop {
			miss = append(miss, "drop")
		}
		v = "PASS"
		if len(miss) > 0 {
			v = "MISS " + strings.Join(miss, ", ")
		}
	}
	joined := pct(o.joins, 50)
	if o.notJoined > 0 {
		joined += fmt.Sprintf(" (+%d never)", o.notJoined)
	}
	fmt.Fprintf(w, "%-36s %-9s %7d %6d %9s %9s %9s %s\n", name, target, o.sum.Sent, o.sum.Failed, joined, pct(o.joins, 99), pct(o.drops, 99), v)
}

// writeFile saves a report under build/, where `make` prints it after the
// tests.
func writeFile(t *testing.T, name, content string) {
	dir := filepath.Join("..", "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("saving %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Logf("saving %s: %v", name, err)
	}
}
