package e2e

// This file proves `lb local` (issue 23) on the three-node cluster of
// scripts/cluster.sh: each worker's gateway sends a service's requests to
// the replica on its own node, falls back to the others when that replica
// is removed gracefully, losing no request, and goes local again when it
// returns.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// What the locality proof sends: the requests counted through each
// gateway, and the rate while a replica leaves and returns.
const (
	localRequests = 1000
	localRate     = 100
	// localFallback bounds the time between a gateway's last answer from
	// the leaving local replica and its first from another node's.
	localFallback = 500 * time.Millisecond
)

func TestClusterLocal(t *testing.T) {
	c := clusterFromEnv(t)
	requireSwarm(t)
	image := os.Getenv("MULTIPLY_IMAGE")
	if image == "" {
		t.Fatal("scripts/cluster.sh sets MULTIPLY_IMAGE")
	}
	svc := c.stack + "_near"
	// One replica per node (global), on the stack's network, preferring
	// the gateway's node. Its SERVICE_ID, a global task's name, holds the
	// node's ID: <service>.<node ID>.<task ID>.
	if out, err := docker(t, 3*time.Minute, "service", "create", "--detach", "--name", svc, "--mode", "global",
		"--network", c.stack+"_net", "--env", "SERVICE_ID={{.Task.Name}}", "--stop-grace-period", "10s",
		"--label", "faas.enable=true", "--label", "faas.path=/near", "--label", "faas.port=8080", "--label", "faas.lb=local",
		image); err != nil {
		t.Fatalf("creating %s: %v\n%s", svc, err, out)
	}
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", svc) })
	nodes := nodeIDsByAddr(t)
	eventually(t, svc+" running on the 3 nodes", 3*time.Minute, func() error {
		if n := len(runningTasks(t, svc)); n != 3 {
			return fmt.Errorf("%d tasks running", n)
		}
		return nil
	})

	var table strings.Builder
	fmt.Fprintf(&table, "lb local on the 3-node cluster: a replica on every node, each worker's gateway\n")
	for _, gw := range c.gateways {
		node := nodes[strings.Split(gw, ":")[0]]
		if node == "" {
			t.Fatalf("no node has the address of gateway %s (nodes: %v)", gw, nodes)
		}
		base := "http://" + gw
		eventually(t, "gateway "+gw+" answers from its node's replica", time.Minute, func() error {
			id, err := replicaAt(base, "/near")
			if err == nil && !onNode(id, node) {
				err = fmt.Errorf("answered by %s, not on node %s", id, node)
			}
			return err
		})
		local := 0
		for range localRequests {
			id, err := replicaAt(base, "/near")
			if err != nil {
				t.Fatalf("through %s: %v", gw, err)
			}
			if onNode(id, node) {
				local++
			}
		}
		fmt.Fprintf(&table, "  %-18s %d of %d requests served on its own node\n", gw, local, localRequests)
		if local != localRequests {
			t.Errorf("gateway %s sent %d of %d requests to its node's replica, want all", gw, local, localRequests)
		}
	}

	// The first worker's replica leaves the normal way (its node is
	// excluded: swarm stops that task), then returns, under load.
	gw := c.gateways[0]
	node := nodes[strings.Split(gw, ":")[0]]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	records := make(chan []loadgen.Record, 1)
	go func() {
		records <- loadgen.Run(ctx, loadgen.Config{BaseURL: "http://" + gw, Prefix: "/near", Rate: localRate, Duration: 3 * time.Minute})
	}()
	time.Sleep(2 * time.Second)
	leave := time.Now()
	excludeNode(t, svc, node, true)
	time.Sleep(2 * time.Second)
	back := time.Now()
	excludeNode(t, svc, node, false)
	time.Sleep(3 * time.Second)
	cancel()
	recs := <-records

	s := loadgen.Summarize(recs)
	slices.SortFunc(recs, func(a, b loadgen.Record) int { return a.Done().Compare(b.Done()) })
	gap, lastLocal, firstOther := switchGap(recs, leave, node)
	endsLocal := true
	for _, r := range recs {
		if r.Sent.After(back) && !r.Failed() && r.Done().After(recs[len(recs)-1].Done().Add(-2*time.Second)) && !onNode(r.ServiceID, node) {
			endsLocal = false
		}
	}
	fmt.Fprintf(&table, "  %s's replica removed and readmitted at %d req/s through %s: %d sent, %d failed, fallback gap %v (last local answer %s, first from another node %s), local again at the end: %v\n",
		node, localRate, gw, s.Sent, s.Failed, gap.Round(time.Millisecond), lastLocal.Format("15:04:05.000"), firstOther.Format("15:04:05.000"), endsLocal)
	t.Log("\n" + table.String())
	writeFile(t, "cluster-local.txt", table.String())
	if s.Failed > 0 {
		t.Errorf("%d of %d requests failed while the local replica left and returned: %v", s.Failed, s.Sent, measureGap(recs))
	}
	if firstOther.IsZero() {
		t.Errorf("no request went to another node after the local replica left")
	} else if gap > localFallback {
		t.Errorf("fallback took %v between the last local answer and the first from another node, want at most %v", gap, localFallback)
	}
	if !endsLocal {
		t.Errorf("the last 2s of answers were not all from node %s's returned replica", node)
	}
}

// replicaAt asks multiply at a prefix through a gateway for 10+25 and
// returns the replica that answered.
func replicaAt(base, prefix string) (string, error) {
	code, body, err := getFrom(base, prefix+"/api/v1/add?x=10&y=25")
	if err != nil || code != 200 {
		return "", fmt.Errorf("GET %s: %d %q %v", prefix, code, body, err)
	}
	var r loadgen.Reply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", fmt.Errorf("GET %s: %q: %w", prefix, body, err)
	}
	if r.Data.Result != 35 || r.Data.ServiceID == "" {
		return "", fmt.Errorf("GET %s: wrong answer %q", prefix, body)
	}
	return r.Data.ServiceID, nil
}

// onNode reports whether a global task's name (<service>.<node>.<task>)
// is on node.
func onNode(serviceID, node string) bool {
	parts := strings.Split(serviceID, ".")
	return len(parts) == 3 && parts[1] == node
}

// switchGap finds, after since, the first answer from another node than
// node, and the last answer from node before it; it returns the time
// between them.
func switchGap(recs []loadgen.Record, since time.Time, node string) (gap time.Duration, lastLocal, firstOther time.Time) {
	for _, r := range recs {
		if r.Failed() || r.Done().Before(since) {
			continue
		}
		if onNode(r.ServiceID, node) {
			lastLocal = r.Done()
			continue
		}
		firstOther = r.Done()
		break
	}
	if firstOther.IsZero() || lastLocal.IsZero() {
		return 0, lastLocal, firstOther
	}
	return firstOther.Sub(lastLocal), lastLocal, firstOther
}

// nodeIDsByAddr maps each swarm node's address to its ID.
func nodeIDsByAddr(t *testing.T) map[string]string {
	t.Helper()
	out, err := docker(t, time.Minute, "node", "ls", "-q")
	if err != nil {
		t.Fatalf("docker node ls: %v", err)
	}
	ids := strings.Fields(out)
	out, err = docker(t, time.Minute, append([]string{"node", "inspect", "--format", "{{.Status.Addr}} {{.ID}}"}, ids...)...)
	if err != nil {
		t.Fatalf("docker node inspect: %v", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

// excludeNode adds the constraint node.id!=node to svc (exclude), or
// removes it, and waits until svc runs no task there, or one.
func excludeNode(t *testing.T, svc, node string, exclude bool) {
	t.Helper()
	flag, want := "--constraint-rm", 1
	if exclude {
		flag, want = "--constraint-add", 0
	}
	if out, err := docker(t, 2*time.Minute, "service", "update", "--detach", flag, "node.id!="+node, svc); err != nil {
		t.Fatalf("%s node.id!=%s: %v\n%s", flag, node, err, out)
	}
	eventually(t, fmt.Sprintf("%d task of %s running on %s", want, svc, node), 2*time.Minute, func() error {
		return tasksOnNode(t, svc, node, want)
	})
}

// tasksOnNode checks that the service runs want tasks on node.
func tasksOnNode(t *testing.T, svc, node string, want int) error {
	out, err := docker(t, time.Minute, "service", "ps", svc, "--filter", "desired-state=running", "--filter", "node="+node, "--format", "{{.CurrentState}}")
	if err != nil {
		return err
	}
	n := strings.Count(out, "Running")
	if n != want || (want == 0 && strings.TrimSpace(out) != "") {
		return fmt.Errorf("%d running (%q), want %d", n, strings.TrimSpace(out), want)
	}
	return nil
}
