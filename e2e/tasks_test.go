package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// taskLife is when one task of a service started and stopped serving, as
// swarm reports it.
type taskLife struct {
	ID string
	// RunningAt is when the task reached "running" (its status timestamp).
	RunningAt time.Time
	// LeftAt is when its desired state left "running" (swarm then waits
	// about 2 s before stopping it).
	LeftAt time.Time
}

// taskClock polls a service's tasks every 100 ms and records their lives.
type taskClock struct {
	cli     *client.Client
	service string

	mu    sync.Mutex
	tasks map[string]*taskLife
	err   error
}

func newDockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// watchTasks starts a taskClock that runs until the test ends.
func watchTasks(t *testing.T, cli *client.Client, service string) *taskClock {
	tc := &taskClock{cli: cli, service: service, tasks: map[string]*taskLife{}}
	pollEvery(t, 100*time.Millisecond, tc.poll)
	return tc
}

// pollEvery calls f now and every interval, in a goroutine of its own,
// until the test ends.
func pollEvery(t *testing.T, interval time.Duration, f func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			f(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func (tc *taskClock) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tasks, err := tc.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", tc.service))})
	now := time.Now()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.err = err
	if err != nil {
		return
	}
	for _, t := range tasks {
		life := tc.tasks[t.ID]
		if life == nil {
			life = &taskLife{ID: t.ID}
			tc.tasks[t.ID] = life
		}
		if life.RunningAt.IsZero() && t.Status.State == swarm.TaskStateRunning {
			life.RunningAt = t.Status.Timestamp
		}
		if life.LeftAt.IsZero() && leaving(t.DesiredState) {
			// While the task still runs, its last update is the change of
			// desired state; later status changes would move UpdatedAt on.
			life.LeftAt = now
			if t.Status.State == swarm.TaskStateRunning && t.Meta.UpdatedAt.Before(now) {
				life.LeftAt = t.Meta.UpdatedAt
			}
		}
	}
}

// leaving reports a desired state past running. (A task an update creates
// starts with desired state "ready", before it is ever running.)
func leaving(s swarm.TaskState) bool {
	switch s {
	case swarm.TaskStateShutdown, swarm.TaskStateRemove, swarm.TaskStateComplete:
		return true
	}
	return false
}

// running counts the tasks that run and are meant to, and returns the
// last polling error.
func (tc *taskClock) running() (int, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	n := 0
	for _, l := range tc.tasks {
		if !l.RunningAt.IsZero() && l.LeftAt.IsZero() {
			n++
		}
	}
	return n, tc.err
}

// snapshot returns a copy of every task's life so far.
func (tc *taskClock) snapshot() []taskLife {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make([]taskLife, 0, len(tc.tasks))
	for _, l := range tc.tasks {
		out = append(out, *l)
	}
	return out
}

// taskIDOf returns the task ID at the end of a ServiceID (the stack sets
// SERVICE_ID to the task name, <service>.<slot>.<task id>).
func taskIDOf(serviceID string) string {
	return serviceID[strings.LastIndexByte(serviceID, '.')+1:]
}
