package e2e

// This file proves the container source with docker compose (issue 22,
// docs/containers.md): compose/docker-compose.yml's gateway routing the
// project's multiply containers, which join once healthy, and leave at
// their stop signal, losing no request while they are recreated,
// restarted and scaled; a container whose health check fails is never
// routed.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

const (
	// composePort is the compose gateway's published port (COMPOSE_PORT).
	composePort = 18093
	// composeJoin bounds the time from a container's healthy to its first
	// answer through the gateway.
	composeJoin = time.Second
	composeRate = 100
)

// composeProject is the test's compose project, beside make up-compose's.
var composeProject = stackName + "c"

// compose runs docker-compose on the test's project.
func compose(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", composeProject, "-f", "compose/docker-compose.yml"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), fmt.Sprintf("COMPOSE_PORT=%d", composePort), "GATEWAY_IMAGE="+gatewayImage, "MULTIPLY_IMAGE="+multiplyImage)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustCompose(t *testing.T, args ...string) {
	t.Helper()
	if _, err := compose(t, 3*time.Minute, args...); err != nil {
		t.Fatal(err)
	}
}

// multiplyContainers returns the IDs (12 hex digits, multiply's default
// SERVICE_ID: its hostname) of the project's running multiply containers
// whose health is status ("healthy", "starting"; "" for any).
func multiplyContainers(t *testing.T, status string) map[string]bool {
	t.Helper()
	args := []string{"ps", "-q", "--filter", "label=com.docker.compose.project=" + composeProject,
		"--filter", "label=com.docker.compose.service=multiply", "--filter", "status=running"}
	if status != "" {
		args = append(args, "--filter", "health="+status)
	}
	ids := map[string]bool{}
	for _, id := range strings.Fields(mustDocker(t, args...)) {
		ids[id[:12]] = true
	}
	return ids
}

// composeURL is the compose gateway's base URL.
var composeURL = localURL(composePort)

// answering sends n requests through the compose gateway and returns the
// replicas that answered.
func answering(n int) (map[string]bool, error) {
	seen := map[string]bool{}
	for range n {
		code, body, err := getFrom(composeURL, "/multiply/api/v1/add?x=10&y=25")
		if err != nil || code != 200 {
			return seen, fmt.Errorf("GET /multiply: %d %q %v", code, body, err)
		}
		var r loadgen.Reply
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return seen, err
		}
		seen[r.Data.ServiceID] = true
	}
	return seen, nil
}

func TestCompose(t *testing.T) {
	requireSwarm(t) // the images, and Docker; the compose project itself needs no swarm
	if _, err := exec.LookPath("docker-compose"); err != nil {
		unavailable(t, "no docker-compose command (Debian's docker-compose package)")
	}
	_, _ = compose(t, 2*time.Minute, "down", "--timeout", "1", "--remove-orphans")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose(t, time.Minute, "logs", "--tail", "60", "gateway")
			t.Logf("the compose gateway's log:\n%s", out)
		}
		if _, err := compose(t, 2*time.Minute, "down", "--timeout", "1", "--remove-orphans"); err != nil {
			t.Errorf("removing the compose project: %v", err)
		}
	})
	mustCompose(t, "up", "-d")
	eventually(t, "3 healthy replicas answer through the compose gateway", 3*time.Minute, func() error {
		return sameReplicas(multiplyContainers(t, "healthy"), 3)
	})

	// A container whose health check never passes is never routed.
	sick := composeProject + "_sick"
	if out, err := docker(t, time.Minute, "run", "-d", "--name", sick, "--network", composeProject+"_default",
		"--label", "faas.enable=true", "--label", "faas.path=/multiply", "--label", "faas.port=8080",
		"--env", "SERVICE_ID=sick", "--health-cmd", "/multiply -healthcheck -addr :9", "--health-interval", "1s",
		"--health-retries", "1", multiplyImage); err != nil {
		t.Fatalf("docker run %s: %v\n%s", sick, err, out)
	}
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "rm", "-f", sick) })

	t.Run("scale to 5: each answers within a second of being healthy", func(t *testing.T) {
		mustCompose(t, "up", "-d", "--no-recreate", "--scale", "multiply=5")
		eventually(t, "5 healthy multiply containers", 2*time.Minute, func() error {
			if n := len(multiplyContainers(t, "healthy")); n != 5 {
				return fmt.Errorf("%d healthy", n)
			}
			return nil
		})
		// Polled every 100 ms: from at most that long after the fifth
		// turned healthy.
		took := eventually(t, "the 5 answering", 10*time.Second, func() error {
			return sameReplicas(multiplyContainers(t, "healthy"), 5)
		})
		if took > composeJoin {
			t.Errorf("the fifth healthy container answered %v after it was seen healthy, want within %v", took, composeJoin)
		}
	})

	for _, step := range []struct {
		name   string
		change func(t *testing.T)
		want   int
	}{
		{"recreate", func(t *testing.T) {
			mustCompose(t, "up", "-d", "--no-deps", "--force-recreate", "--scale", "multiply=5", "multiply")
		}, 5},
		{"restart one", func(t *testing.T) {
			for id := range multiplyContainers(t, "healthy") {
				mustDocker(t, "restart", id)
				return
			}
		}, 5},
		{"scale 5 to 1", func(t *testing.T) { mustCompose(t, "up", "-d", "--no-recreate", "--scale", "multiply=1") }, 1},
	} {
		t.Run(step.name+" under load", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan []loadgen.Record, 1)
			go func() {
				done <- loadgen.Run(ctx, loadgen.Config{BaseURL: composeURL, Prefix: "/multiply", Rate: composeRate, Duration: 3 * time.Minute})
			}()
			time.Sleep(time.Second)
			step.change(t)
			eventually(t, fmt.Sprintf("%d healthy replicas, each answering", step.want), 2*time.Minute, func() error {
				return sameReplicas(multiplyContainers(t, "healthy"), step.want)
			})
			time.Sleep(time.Second)
			cancel()
			recs := <-done
			s := loadgen.Summarize(recs)
			sickAnswers := 0
			for _, r := range recs {
				if r.ServiceID == "sick" {
					sickAnswers++
				}
			}
			t.Logf("%s at %d req/s: %d sent, %d failed, p99 %v", step.name, composeRate, s.Sent, s.Failed, s.P99)
			if s.Failed > 0 || s.Sent < composeRate {
				t.Errorf("%s: %d of %d requests failed: %v", step.name, s.Failed, s.Sent, measureGap(recs))
			}
			if sickAnswers > 0 {
				t.Errorf("the container whose health check fails answered %d requests", sickAnswers)
			}
		})
	}
}

// sameReplicas checks that the replicas answering through the compose
// gateway are want, and that there are n of them.
func sameReplicas(want map[string]bool, n int) error {
	if len(want) != n {
		return fmt.Errorf("%d such containers, want %d", len(want), n)
	}
	got, err := answering(6 * n)
	if err != nil {
		return err
	}
	for id := range got {
		if !want[id] {
			return fmt.Errorf("answered by %s, not one of %v", id, slices.Sorted(maps.Keys(want)))
		}
	}
	if len(got) != n {
		return fmt.Errorf("%d replicas answered (%v), want %d", len(got), slices.Sorted(maps.Keys(got)), n)
	}
	return nil
}
