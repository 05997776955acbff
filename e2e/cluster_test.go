package e2e

// This file holds the gateway's own lifecycle where there is more than one
// gateway (issue 13): on the three-node cluster of scripts/cluster.sh, with
// stock Caddy outside the swarm standing in for a cloud load balancer, the
// gateways are restarted, reconfigured and upgraded under load, and no
// request may fail.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// Load through the stand-in load balancer during each update, and the
// quiet time around it.
const (
	clusterRate   = 200
	clusterSettle = 3 * time.Second
)

// clusterEnv is what scripts/cluster.sh tells the test about its cluster;
// DOCKER_HOST (the manager) points the docker CLI at it.
type clusterEnv struct {
	gateways  []string // host:port of each worker's gateway
	lbListen  string   // host:port for the stand-in load balancer
	nextImage string   // a second tag of the gateway image, on every node
	stack     string   // the deployed stack.cluster.yml
	// full runs every gatewayUpdate (make scenarios); otherwise only the
	// upgrade to a new image (make test-cluster, where CI time counts).
	full bool
}

func clusterFromEnv(t *testing.T) clusterEnv {
	t.Helper()
	gws := os.Getenv("FAAS_CLUSTER_GATEWAYS")
	if gws == "" {
		t.Skip("runs on the three-node cluster that scripts/cluster.sh sets up (make test-cluster, make scenarios)")
	}
	c := clusterEnv{
		full:      os.Getenv("FAAS_CLUSTER_LIFECYCLE") == "full",
		gateways:  strings.Split(gws, ","),
		lbListen:  os.Getenv("FAAS_CLUSTER_LB"),
		nextImage: os.Getenv("FAAS_CLUSTER_NEXT_IMAGE"),
		stack:     os.Getenv("STACK"),
	}
	if c.lbListen == "" || c.nextImage == "" || c.stack == "" {
		t.Fatal("scripts/cluster.sh sets FAAS_CLUSTER_LB, FAAS_CLUSTER_NEXT_IMAGE and STACK with FAAS_CLUSTER_GATEWAYS")
	}
	return c
}

// startLB builds stock Caddy (cmd/caddy, without this module) and runs it
// with testdata/lb.Caddyfile in front of the gateways, until the test ends.
// Its log goes to build/cluster-lb.log.
func startLB(t *testing.T, c clusterEnv) {
	t.Helper()
	bin, _ := filepath.Abs("../build/stock-caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/caddyserver/caddy/v2/cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("building stock Caddy: %v\n%s", err, out)
	}
	tmpl, err := os.ReadFile("testdata/lb.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("LB_LISTEN", c.lbListen, "LB_UPSTREAMS", strings.Join(c.gateways, " ")).Replace(string(tmpl))
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create("../build/cluster-lb.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the stand-in load balancer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
}

// gatewayUpdate is one change to the gateway service, rolled out with
// the stack's update_config.
type gatewayUpdate struct {
	name string
	// flags for docker service update, made once the earlier updates ran
	flags func(t *testing.T, c clusterEnv) []string
	// check that the change took effect
	check func(t *testing.T, c clusterEnv)
}

// configHeader marks the answers of the Caddyfile rolled out as a new config.
const configHeader = "X-Faas-Config"

// configSwapCaddyfile is the Caddyfile the config swap rolls out: the
// default one, with a header that shows the new one serves. Mounted at
// /etc/caddy/Caddyfile, it imports the stack's gateway.caddy beside it.
func configSwapCaddyfile(t *testing.T) []byte {
	t.Helper()
	base, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const site = ":8081 {\n"
	if n := strings.Count(string(base), site); n != 1 {
		t.Fatalf("the Caddyfile has %d times %q, want 1", n, site)
	}
	return []byte(strings.Replace(string(base), site, site+"\theader "+configHeader+" 2\n", 1))
}

var gatewayUpdates = []gatewayUpdate{
	{name: "restart (service update --force)", flags: func(*testing.T, clusterEnv) []string { return []string{"--force"} }},
	{name: "Caddyfile change (config swap)", flags: func(t *testing.T, c clusterEnv) []string {
		file := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(file, configSwapCaddyfile(t), 0o644); err != nil {
			t.Fatal(err)
		}
		// The stack's label, so that removing the stack removes it too.
		name := c.stack + "_caddyfile_2"
		mustDocker(t, "config", "create", "--label", "com.docker.stack.namespace="+c.stack, name, file)
		return []string{"--config-rm", c.stack + "_caddyfile", "--config-add", "source=" + name + ",target=/etc/caddy/Caddyfile"}
	}, check: func(t *testing.T, c clusterEnv) {
		for _, gw := range c.gateways {
			resp, err := httpClient.Get("http://" + gw + "/multiply/api/v1/add?x=10&y=25")
			if err != nil {
				t.Errorf("gateway %s: %v", gw, err)
				continue
			}
			resp.Body.Close()
			if resp.Header.Get(configHeader) != "2" {
				t.Errorf("gateway %s answers without %s: 2, so it does not run the new config", gw, configHeader)
			}
		}
	}},
	// The last, the one make test-cluster runs.
	{name: "upgrade (a new image)", flags: func(_ *testing.T, c clusterEnv) []string {
		return []string{"--image", c.nextImage, "--no-resolve-image"}
	}, check: func(t *testing.T, c clusterEnv) {
		img := strings.TrimSpace(mustDocker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", c.stack+"_gateway"))
		if img != c.nextImage {
			t.Errorf("after the upgrade the gateway service runs %s, want %s", img, c.nextImage)
		}
	}},
}

// TestClusterLifecycle rolls each gatewayUpdate out to the worker gateways
// (one node at a time, as stack.cluster.yml's update_config says) while
// clusterRate requests/s go through the stand-in load balancer, which
// checks each gateway's /-/ready. Every request must succeed.
func TestClusterLifecycle(t *testing.T) {
	c := clusterFromEnv(t)
	requireSwarm(t)
	gatewaySv := c.stack + "_gateway"
	startLB(t, c)
	lbURL := "http://" + c.lbListen
	eventually(t, "the load balancer answers 10+25=35", time.Minute, func() error {
		if code, body, err := getFrom(lbURL, "/multiply/api/v1/add?x=10&y=25"); err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})

	var table strings.Builder
	fmt.Fprintf(&table, "gateway updates on the 3-node cluster (2 worker gateways, update_config parallelism 1, delay 10s, stop-first), %d req/s through a stand-in load balancer checking /-/ready every 1s\n", clusterRate)
	fmt.Fprintf(&table, "%-34s %7s %6s %9s %9s %s\n", "update", "sent", "failed", "p99", "took", "failures")
	for i, u := range gatewayUpdates {
		if !c.full && i < len(gatewayUpdates)-1 {
			continue
		}
		t.Run(u.name, func(t *testing.T) {
			eventually(t, "every gateway ready", time.Minute, func() error { return gatewaysReady(c) })
			time.Sleep(clusterSettle) // the load balancer's checks have seen them
			before := runningTasks(t, gatewaySv)
			flags := u.flags(t, c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			records := make(chan []loadgen.Record, 1)
			go func() {
				records <- loadgen.Run(ctx, loadgen.Config{BaseURL: lbURL, Prefix: "/multiply", Rate: clusterRate, Duration: 4 * time.Minute})
			}()
			time.Sleep(clusterSettle)
			start := time.Now()
			args := append(append([]string{"service", "update", "--detach"}, flags...), gatewaySv)
			status, err := updateStatus(t, gatewaySv)
			if err == nil {
				_, err = docker(t, time.Minute, args...)
			}
			if err == nil {
				err = awaitUpdate(t, gatewaySv, status, 3*time.Minute)
			}
			took := time.Since(start)
			time.Sleep(clusterSettle)
			cancel()
			recs := <-records
			if err != nil {
				t.Fatal(err)
			}

			s, g := loadgen.Summarize(recs), measureGap(recs)
			failures := "-"
			if g.failed > 0 {
				failures = g.String()
			}
			fmt.Fprintf(&table, "%-34s %7d %6d %9v %9v %s\n", u.name, s.Sent, s.Failed, s.P99.Round(time.Millisecond), took.Round(100*time.Millisecond), failures)
			if s.Failed > 0 {
				t.Errorf("%d of %d requests through the load balancer failed: %v", s.Failed, s.Sent, g)
			}
			after := runningTasks(t, gatewaySv)
			for id := range before {
				if after[id] {
					t.Errorf("gateway task %s still runs: the update replaced no task", id)
				}
			}
			if len(after) != len(c.gateways) {
				t.Errorf("%d gateway tasks run after the update, want %d", len(after), len(c.gateways))
			}
			if u.check != nil {
				u.check(t, c)
			}
		})
	}
	t.Log("\n" + table.String())
	writeFile(t, "cluster-lifecycle.txt", table.String())
}

// runningTasks returns the IDs of a service's tasks that run and are meant to.
func runningTasks(t *testing.T, service string) map[string]bool {
	t.Helper()
	out := mustDocker(t, "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service)
	ids := map[string]bool{}
	for _, id := range strings.Fields(out) {
		ids[id] = true
	}
	return ids
}

// gatewaysReady checks each gateway's /-/ready.
func gatewaysReady(c clusterEnv) error {
	for _, gw := range c.gateways {
		if code, body, err := getFrom("http://"+gw, "/-/ready"); err != nil || code != http.StatusOK {
			return fmt.Errorf("%s: %d %q %v", gw, code, body, err)
		}
	}
	return nil
}

// updateStatus is swarm's state of the service's last update, with when
// it started ("" before the first).
func updateStatus(t *testing.T, service string) (string, error) {
	out, err := docker(t, 30*time.Second, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}: {{.UpdateStatus.Message}}{{end}}", service)
	return strings.TrimSpace(out), err
}

// awaitUpdate waits until swarm reports an update of the service, other
// than the one in status before, completed. `docker service update
// --detach=false` is not enough: for a global service it can report the
// service converged once the first node is updated, while the others
// still wait their turn.
func awaitUpdate(t *testing.T, service, before string, timeout time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state, err := updateStatus(t, service)
		switch {
		case err != nil:
			return err
		case state == before:
		case strings.HasPrefix(state, "completed"):
			return nil
		case strings.HasPrefix(state, "paused"), strings.HasPrefix(state, "rollback"):
			return fmt.Errorf("update of %s: %s", service, state)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("update of %s not completed within %v: %q", service, timeout, state)
		}
		time.Sleep(time.Second)
	}
}
