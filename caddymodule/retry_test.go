package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// TestRetriesSeeCurrentReplicas is issue 9, defect 1: the retries of one
// request must see the replicas running now, not those of the request's
// start, in the two cases where that decides the answer: the only replica
// replaced (a single-replica rolling update), and a service at zero
// replicas that gains one (scale from zero).
func TestRetriesSeeCurrentReplicas(t *testing.T) {
	const dead, live = "127.0.0.40", "127.0.0.41" // nothing listens on dead
	port := startBackends(t, live)
	p := fmt.Sprint(port)
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{fake.Service("solo", fake.Enabled("faas.port", p))}
	fe.Tasks = []swarm.Task{fake.Task("solo", live)}

	listen := freePort(t)
	loadCaddy(t, adaptCaddyfile(t, fmt.Sprintf(`{
		admin off
		persist_config off
	}
	:%d {
		swarm_route {
			docker_host %[2]s
			converge_interval 50ms
		}
		reverse_proxy {
			dynamic swarm {
				docker_host %[2]s
				converge_interval 50ms
			}
			lb_try_duration 3s
			lb_try_interval 50ms
			transport http {
				dial_timeout 200ms
			}
		}
	}`, listen, fe.Host())))
	url := fmt.Sprintf("http://127.0.0.1:%d/solo/", listen)
	get := func() (int, time.Duration) {
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	waitStatus := func(want int) {
		deadline := time.Now().Add(5 * time.Second)
		for code, _ := get(); code != want; code, _ = get() {
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d, want %d within 5s", url, code, want)
			}
		}
	}

	// relisted makes a change with a service event and waits until the
	// gateway has listed the swarm after it.
	relisted := func(f func(fe *fake.Engine)) {
		n := fe.CallTotal()
		fe.Update(f)
		for !slices.ContainsFunc(fe.CallsSince(n), func(c string) bool { return strings.HasPrefix(c, "GET /networks") }) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitStatus(http.StatusOK)

	t.Run("only replica replaced", func(t *testing.T) {
		relisted(func(fe *fake.Engine) { fe.Tasks = []swarm.Task{fake.Task("solo", dead)} })
		// The task's address stops answering and a new task runs, with no
		// service event (task changes send none): only the re-list that a
		// failed dial asks for can find it.
		go func() {
			time.Sleep(300 * time.Millisecond)
			fe.Quietly(func(fe *fake.Engine) { fe.Tasks = []swarm.Task{fake.Task("solo", live)} })
		}()
		code, took := get()
		if code != http.StatusOK || took > 2*time.Second {
			t.Errorf("GET = %d after %v, want 200 well within lb_try_duration 3s", code, took)
		}
	})

	t.Run("scale from zero", func(t *testing.T) {
		relisted(func(fe *fake.Engine) {
			*fe.Services[0].Spec.Mode.Replicated.Replicas = 0
			fe.Tasks = nil
		})
		go func() {
			time.Sleep(500 * time.Millisecond)
			// `docker service scale solo=1`: an event, a task starting...
			fe.Update(func(fe *fake.Engine) {
				*fe.Services[0].Spec.Mode.Replicated.Replicas = 1
				fe.Tasks = []swarm.Task{fake.Task("solo", live, fake.TaskState(swarm.TaskStateRunning, swarm.TaskStateStarting))}
			})
			// ...and running 200ms later, with no event.
			time.Sleep(200 * time.Millisecond)
			fe.Quietly(func(fe *fake.Engine) { fe.Tasks = []swarm.Task{fake.Task("solo", live)} })
		}()
		code, took := get()
		if code != http.StatusOK || took > 2*time.Second {
			t.Errorf("GET = %d after %v, want 200 soon after the replica runs (0.7s)", code, took)
		}
	})
}
