package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// TestLocalReplicasFirst: a gateway on node n1 sends every request of an
// `lb local` service to its replicas on n1 while one runs there, falls
// back to the others when it stops, and goes local again when it returns.
func TestLocalReplicasFirst(t *testing.T) {
	const here, there = "127.0.0.60", "127.0.0.61"
	port := startBackends(t, here, there)
	p := fmt.Sprint(port)
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{fake.Service("web", fake.Enabled("faas.port", p, "faas.lb", "local"), fake.ServiceReplicas(2))}
	both := []swarm.Task{fake.Task("web", here, fake.TaskOnNode("n1")), fake.Task("web", there, fake.TaskOnNode("n2"))}
	fe.Tasks = both
	t.Setenv("NODE_ID", "n1") // as the stack files set it: the default of node_id

	gf := loadGateway(t, fe, false)
	gf.waitFor(t, "/web/", http.StatusOK)
	served := func(n int) map[string]int {
		by := map[string]int{}
		for range n {
			code, body := gf.get(t, "/web/")
			var br backendReply
			_ = json.Unmarshal([]byte(body), &br)
			if code != http.StatusOK {
				t.Fatalf("GET /web/ = %d %q", code, body)
			}
			by[br.ID]++
		}
		return by
	}
	if got := served(20); got[here] != 20 {
		t.Fatalf("with a replica on n1: served by %v, want all 20 by %s", got, here)
	}
	fe.Update(func(fe *fake.Engine) { fe.Tasks = both[1:] })
	waitUntil(t, "the other node's replica serves once n1's is gone", func() bool { return served(1)[there] == 1 })
	if got := served(10); got[there] != 10 {
		t.Errorf("with none on n1: served by %v, want all 10 by %s", got, there)
	}
	fe.Update(func(fe *fake.Engine) { fe.Tasks = both })
	waitUntil(t, "local again once n1's replica is back", func() bool { return served(1)[here] == 1 })
	if got := served(10); got[here] != 10 {
		t.Errorf("with n1's back: served by %v, want all 10 by %s", got, here)
	}
}
