package e2e

// This file proves the autoscaler (issue 25, docs/scaling.md) on the
// swarm: a service that sleeps when idle and wakes on its first requests,
// and one whose replica count follows a step in its load.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The targets for a wake.
const (
	targetWakeGateway  = 300 * time.Millisecond // task running -> first answer, p99
	targetWakeDecision = 50 * time.Millisecond  // first request -> scale call
	sleepIdle          = 10 * time.Second       // the sleepy service's faas.scale.idle
	wakeBurst          = 100                    // concurrent first requests of each wake
)

// wake is what one wake took, in its parts.
type wake struct {
	decision time.Duration // first request sent -> the service's spec updated to 1
	engine   time.Duration // task created -> running, by the task's timestamps
	gateway  time.Duration // task running -> first answer received
	total    time.Duration // first request sent -> first answer received
	slept    time.Duration // last request -> spec at 0, before this wake
}

// TestScaleToZero lets a service with a 10 s idle time fall asleep, then
// wakes it with 100 concurrent requests, which must all get 200: 3 times
// in CI, 10 with SCENARIOS=full. It reports each wake's parts, and with
// ten wakes their verdicts against the targets.
func TestScaleToZero(t *testing.T) {
	requireSwarm(t)
	wakes := 3
	if os.Getenv("SCENARIOS") == "full" {
		wakes = 10
	}
	deployStack(t, "stack.yml")
	cli := newDockerClient(t)
	name := stackName + "_sleepy"
	createMultiply(t, name, []string{"faas.enable=true", "faas.path=/sleepy", "faas.port=8080",
		"faas.scale.max=3", "faas.scale.idle=" + sleepIdle.String()},
		"--env", "SERVICE_ID={{.Task.Name}}.{{.Task.ID}}")
	const path = "/sleepy/api/v1/add?x=10&y=25"
	eventually(t, "/sleepy answers", 3*time.Minute, func() error { return want200(path) })

	var ws []wake
	for i := range wakes {
		lastRequest := time.Now()
		eventually(t, fmt.Sprintf("sleep %d: the service at 0 replicas, and the gateway calling it sleeping", i+1), sleepIdle+time.Minute, func() error {
			if n, err := specReplicas(cli, name); err != nil || n != 0 {
				return fmt.Errorf("spec replicas %d (%v), want 0", n, err)
			}
			if n, err := tasksRunning(cli, name); err != nil || n != 0 {
				return fmt.Errorf("%d tasks running (%v), want 0", n, err)
			}
			return scalingStateIs(t, "/sleepy", "sleeping")
		})
		svc, _, err := cli.ServiceInspectWithRaw(context.Background(), name, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slept := svc.UpdatedAt.Sub(lastRequest)

		first := time.Now()
		answers := burst(path, wakeBurst, 90*time.Second)
		var failed []string
		firstAnswer := time.Time{}
		for _, a := range answers {
			if a.err != nil {
				failed = append(failed, a.err.Error())
				continue
			}
			if firstAnswer.IsZero() || a.done.Before(firstAnswer) {
				firstAnswer = a.done
			}
		}
		if len(failed) > 0 {
			t.Fatalf("wake %d: %d of %d first requests failed, want 0; the first: %s", i+1, len(failed), wakeBurst, failed[0])
		}
		w, err := wakeParts(cli, name, first, firstAnswer)
		if err != nil {
			t.Fatalf("wake %d: %v", i+1, err)
		}
		w.slept = slept
		ws = append(ws, w)
		t.Logf("wake %d: slept %v after the last request; decision %v, engine %v, gateway %v, first answer %v after the first request",
			i+1, w.slept.Round(time.Millisecond), w.decision.Round(time.Millisecond), w.engine.Round(time.Millisecond),
			w.gateway.Round(time.Millisecond), w.total.Round(time.Millisecond))
		if want := sleepIdle + 5*time.Second; w.slept > want {
			t.Errorf("wake %d: the service slept %v after its last request, want within %v (idle %v)", i+1, w.slept, want, sleepIdle)
		}
	}
	// Timing targets are reported, not asserted, as the scenarios' are;
	// three wakes are too few for a verdict on a p99.
	report := wakeTable(ws, wakes >= 10)
	t.Log("\n" + report)
	writeFile(t, "scaling.txt", report)
}

// answer is one request of a burst.
type answer struct {
	done time.Time
	err  error
}

// burst sends n concurrent GETs of path through the gateway, each waiting
// up to timeout, and returns their outcomes: an error for a failure or a
// wrong answer.
func burst(path string, n int, timeout time.Duration) []answer {
	c := &http.Client{Timeout: timeout}
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			code, body, err := getWith(c, baseURL, "", path)
			if err == nil && (code != http.StatusOK || !strings.Contains(body, `"Result":35`)) {
				err = fmt.Errorf("status %d: %.200s", code, body)
			}
			out[i] = answer{done: time.Now(), err: err}
		})
	}
	wg.Wait()
	return out
}

// wakeParts splits a wake that started with the first request at first and
// got its first answer at firstAnswer: when the service's spec went to 1,
// and its new task's creation and start.
func wakeParts(cli *client.Client, service string, first, firstAnswer time.Time) (wake, error) {
	ctx := context.Background()
	svc, _, err := cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return wake{}, err
	}
	tasks, err := cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", service), filters.Arg("desired-state", "running"))})
	if err != nil {
		return wake{}, err
	}
	var task *swarm.Task
	for i := range tasks {
		if tk := &tasks[i]; tk.Status.State == swarm.TaskStateRunning && tk.CreatedAt.After(first.Add(-time.Second)) {
			if task == nil || tk.CreatedAt.Before(task.CreatedAt) {
				task = tk
			}
		}
	}
	if task == nil {
		return wake{}, fmt.Errorf("no task of %s created for the wake at %v runs (%d tasks)", service, first, len(tasks))
	}
	return wake{
		decision: svc.UpdatedAt.Sub(first),
		engine:   task.Status.Timestamp.Sub(task.CreatedAt),
		gateway:  firstAnswer.Sub(task.Status.Timestamp),
		total:    firstAnswer.Sub(first),
	}, nil
}

// wakeTable is the wakes' parts: median and worst of each, and with
// verdicts, PASS or MISS against the parts' targets (the worst of at most
// ten wakes is their p99).
func wakeTable(ws []wake, verdicts bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scale to zero: %d wakes of multiply, %d concurrent first requests each, idle %v, all answered 200", len(ws), wakeBurst, sleepIdle)
	if !verdicts {
		b.WriteString(" (figures only: SCENARIOS=full takes 10 wakes, with verdicts)")
	}
	fmt.Fprintf(&b, "\n%-46s %10s %10s %10s\n", "part", "median", "worst", "target")
	for _, row := range []struct {
		name   string
		f      func(wake) time.Duration
		target time.Duration // of the worst; 0: none
	}{
		{"slept after the last request", func(w wake) time.Duration { return w.slept }, 0},
		{"decision: first request -> scale call", func(w wake) time.Duration { return w.decision }, targetWakeDecision},
		{"engine: task created -> running", func(w wake) time.Duration { return w.engine }, 0},
		{"gateway: task running -> first answer", func(w wake) time.Duration { return w.gateway }, targetWakeGateway},
		{"total: first request -> first answer", func(w wake) time.Duration { return w.total }, 0},
	} {
		v := collect(ws, row.f)
		slices.Sort(v)
		worst := v[len(v)-1]
		target, verdict := "-", ""
		if row.target > 0 {
			target = row.target.String()
			if verdicts {
				verdict = " PASS"
				if worst > row.target {
					verdict = " MISS"
				}
			}
		}
		fmt.Fprintf(&b, "%-46s %10v %10v %10s%s\n", row.name, v[len(v)/2].Round(time.Millisecond), worst.Round(time.Millisecond), target, verdict)
	}
	return b.String()
}

// collect is f of each wake.
func collect(ws []wake, f func(wake) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ws))
	for i, w := range ws {
		out[i] = f(w)
	}
	return out
}

// want200 checks that path answers 200 with multiply's 35.
func want200(path string) error {
	code, body, err := get(path)
	if err == nil && (code != http.StatusOK || !strings.Contains(body, `"Result":35`)) {
		err = fmt.Errorf("status %d: %.200s", code, body)
	}
	return err
}

// specReplicas is the replica count of a replicated service's spec.
func specReplicas(cli *client.Client, service string) (uint64, error) {
	svc, _, err := cli.ServiceInspectWithRaw(context.Background(), service, swarm.ServiceInspectOptions{})
	if err != nil {
		return 0, err
	}
	if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
		return 0, errors.New("not a replicated service")
	}
	return *svc.Spec.Mode.Replicated.Replicas, nil
}

// tasksRunning counts the service's tasks in state running.
func tasksRunning(cli *client.Client, service string) (int, error) {
	tasks, err := cli.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", service))})
	n := 0
	for _, tk := range tasks {
		if tk.Status.State == swarm.TaskStateRunning {
			n++
		}
	}
	return n, err
}

// Load step: multiply held 100 ms per answer, one replica per 10 requests
// in flight; 20 requests/s (2 in flight: 1 replica), then 400 (40: 4).
const (
	stepDelay   = 100 * time.Millisecond
	stepTarget  = 10
	stepLow     = 20
	stepHigh    = 400
	stepWant    = stepHigh * 100 / 1000 / stepTarget // the count the high load calls for
	stepReach   = 15 * time.Second                   // to reach it after the step
	stepFall    = 2 * time.Minute                    // to fall back to the minimum after the load
	stepMax     = 8
	stepSamples = 500 * time.Millisecond
)

// TestScaleFollowsLoad steps a service's load from 20 to 400 requests/s
// and back to none: its replica count must reach what 400 calls for
// within 15 s, hold it within one step while the load is steady, fall
// back to its minimum within 2 minutes, and no request may fail.
func TestScaleFollowsLoad(t *testing.T) {
	requireSwarm(t)
	deployStack(t, "stack.yml")
	cli := newDockerClient(t)
	name := stackName + "_elastic"
	createMultiply(t, name, []string{"faas.enable=true", "faas.path=/elastic", "faas.port=8080",
		"faas.scale.min=1", fmt.Sprintf("faas.scale.max=%d", stepMax), fmt.Sprintf("faas.scale.target=%d", stepTarget)},
		"--env", "SERVICE_ID={{.Task.Name}}.{{.Task.ID}}", "--env", "RESPONSE_DELAY="+stepDelay.String())
	eventually(t, "/elastic answers", 3*time.Minute, func() error { return want200("/elastic/api/v1/add?x=10&y=25") })

	counts := sampleReplicas(t, cli, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := func(rate int, d time.Duration) []loadgen.Record {
		return loadgen.Run(ctx, loadgen.Config{BaseURL: baseURL, Prefix: "/elastic", Rate: rate, Duration: d})
	}
	recs := run(stepLow, 10*time.Second)
	if n := counts.at(time.Now()); n != 1 {
		t.Errorf("at %d requests/s (%v in flight), %d replicas, want 1", stepLow, stepLow*stepDelay.Seconds(), n)
	}
	step := time.Now()
	recs = append(recs, run(stepHigh, 45*time.Second)...)
	stopped := time.Now()
	fell := eventually(t, "the count back at its minimum, 1", stepFall+30*time.Second, func() error {
		if n, err := specReplicas(cli, name); err != nil || n != 1 {
			return fmt.Errorf("%d replicas (%v)", n, err)
		}
		return nil
	})

	sum := loadgen.Summarize(recs)
	reached, ok := counts.firstAtLeast(step, stepWant)
	steady := counts.between(step.Add(stepReach+5*time.Second), stopped)
	report := fmt.Sprintf("load step: multiply held %v, target %d in flight per replica, %d -> %d requests/s\n", stepDelay, stepTarget, stepLow, stepHigh)
	if ok {
		report += fmt.Sprintf("  reached %d replicas %v after the step (want within %v)\n", stepWant, reached.Round(100*time.Millisecond), stepReach)
	} else {
		report += fmt.Sprintf("  never reached %d replicas during the high load (want within %v)\n", stepWant, stepReach)
	}
	report += fmt.Sprintf("  in steady load, from %v after the step: %d to %d replicas\n", stepReach+5*time.Second, slices.Min(steady), slices.Max(steady))
	report += fmt.Sprintf("  back at 1 replica %v after the load stopped (want within %v)\n", fell.Round(time.Second), stepFall)
	report += fmt.Sprintf("  %d requests, %d failed\n", sum.Sent, sum.Failed)
	t.Log("\n" + report)
	writeFile(t, "scaling-load.txt", report)

	if !ok || reached > stepReach {
		t.Errorf("the count reached %d %v after the step (reached: %v), want within %v", stepWant, reached, ok, stepReach)
	}
	if lo, hi := slices.Min(steady), slices.Max(steady); hi-lo > 1 || lo < stepWant-1 || hi > stepWant+1 {
		t.Errorf("in steady load at %d requests/s the count moved from %d to %d, want within one step of %d", stepHigh, lo, hi, stepWant)
	}
	if fell > stepFall {
		t.Errorf("the count fell back to 1 %v after the load stopped, want within %v", fell, stepFall)
	}
	if sum.Failed > 0 {
		t.Errorf("%d of %d requests failed, want 0: %v", sum.Failed, sum.Sent, sum.Errors)
	}
}

// replicaSamples are a service's spec replica counts, sampled until the
// test ends.
type replicaSamples struct {
	mu      sync.Mutex
	times   []time.Time
	replica []uint64
}

// sampleReplicas samples the service's spec replicas every stepSamples
// until the test ends.
func sampleReplicas(t *testing.T, cli *client.Client, service string) *replicaSamples {
	s := new(replicaSamples)
	pollEvery(t, stepSamples, func(context.Context) {
		if n, err := specReplicas(cli, service); err == nil {
			s.mu.Lock()
			s.times, s.replica = append(s.times, time.Now()), append(s.replica, n)
			s.mu.Unlock()
		}
	})
	return s
}

// at is the last count sampled at or before when.
func (s *replicaSamples) at(when time.Time) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for i, at := range s.times {
		if at.After(when) {
			break
		}
		n = s.replica[i]
	}
	return n
}

// firstAtLeast is how long after from the count first was n or more.
func (s *replicaSamples) firstAtLeast(from time.Time, n uint64) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, at := range s.times {
		if !at.Before(from) && s.replica[i] >= n {
			return at.Sub(from), true
		}
	}
	return 0, false
}

// between are the counts sampled from from to to (at least the one at from).
func (s *replicaSamples) between(from, to time.Time) []uint64 {
	out := []uint64{s.at(from)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, at := range s.times {
		if at.After(from) && at.Before(to) {
			out = append(out, s.replica[i])
		}
	}
	return out
}

// scalingStateIs checks that the gateway's routes API (its admin
// endpoint) shows the scaled service of the route with prefix in state.
func scalingStateIs(t *testing.T, prefix, state string) error {
	var v struct {
		Routes []struct {
			Prefix  string
			Scaling *struct{ State, Reason string }
		}
	}
	if err := gatewayRoutes(t, &v); err != nil {
		return err
	}
	for _, r := range v.Routes {
		switch {
		case r.Prefix != prefix:
		case r.Scaling == nil:
			return fmt.Errorf("%s: no scaling state in the routes API", prefix)
		case r.Scaling.State != state:
			return fmt.Errorf("%s: %s (%s), want %s", prefix, r.Scaling.State, r.Scaling.Reason, state)
		default:
			return nil
		}
	}
	return fmt.Errorf("%s: not in the routes API", prefix)
}
