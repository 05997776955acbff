package caddymodule

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
)

// The replicas of the round-robin tests' services: a has two, b three,
// and c three, of which deadAddr has no backend (its dials are refused).
var (
	rrAddrs = map[string][]string{
		"a": {"127.0.0.80", "127.0.0.81"},
		"b": {"127.0.0.90", "127.0.0.91", "127.0.0.92"},
		"c": {"127.0.0.100", deadAddr, "127.0.0.102"},
	}
	deadAddr = "127.0.0.101"
)

// rrCaddyfile is a gateway whose reverse_proxy balances with the policy
// %[3]s, retries within 2s and takes a failed replica out for 10s.
const rrCaddyfile = `{
	admin off
	persist_config off
}
:%[1]d {
	swarm_route {
		docker_host %[2]s
	}
	reverse_proxy {
		dynamic swarm {
			docker_host %[2]s
		}
		lb_policy %[3]s
		lb_try_duration 2s
		lb_try_interval 10ms
		fail_duration 10s
	}
}`

// rrGateway runs a gateway balancing with policy in front of a, b and c.
func rrGateway(t *testing.T, policy string) *gatewayFixture {
	t.Helper()
	var live []string
	for _, addrs := range rrAddrs {
		for _, a := range addrs {
			if a != deadAddr {
				live = append(live, a)
			}
		}
	}
	p := fmt.Sprint(startBackends(t, live...))
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	for svc, addrs := range rrAddrs {
		fe.Services = append(fe.Services, fake.Service(svc, fake.Enabled("faas.port", p), fake.ServiceReplicas(uint64(len(addrs)))))
		for _, a := range addrs {
			fe.Tasks = append(fe.Tasks, fake.Task(svc, a))
		}
	}
	listen := freePort(t)
	loadCaddy(t, adaptCaddyfile(t, fmt.Sprintf(rrCaddyfile, listen, fe.Host(), policy)))
	gf := &gatewayFixture{fe: fe, base: fmt.Sprintf("http://127.0.0.1:%d", listen)}
	gf.waitFor(t, "/a/", http.StatusOK)
	gf.waitFor(t, "/b/", http.StatusOK)
	return gf
}

// sendPattern sends rounds of the requests of paths, in order, one at a
// time, and counts the replicas that answered, by path; a request that
// gets no answer from a replica fails the test.
func (gf *gatewayFixture) sendPattern(t *testing.T, rounds int, paths ...string) map[string]map[string]int {
	t.Helper()
	got := make(map[string]map[string]int)
	for range rounds {
		for _, p := range paths {
			a := gf.send(t, http.DefaultClient, p)
			if a.code != http.StatusOK || a.replica == "" {
				t.Fatalf("GET %s = %d %q, want 200 from a replica", p, a.code, a.body)
			}
			if got[p] == nil {
				got[p] = make(map[string]int)
			}
			got[p][a.replica]++
		}
	}
	return got
}

// checkShares fails the test unless each of addrs answered want requests
// of path's, within slack.
func checkShares(t *testing.T, got map[string]int, path string, addrs []string, want, slack int) {
	t.Helper()
	for _, a := range addrs {
		if n := got[a]; n < want-slack || n > want+slack {
			t.Errorf("%s: replica %s answered %d requests, want %d±%d (all: %v)", path, a, n, want, slack, got)
		}
	}
}

// TestRoundRobinPerRoute: with swarm_round_robin, each route's replicas
// take turns whatever the other routes' traffic. Route a's and route b's
// requests interleave 2:1 and b has three replicas, so that with Caddy's
// round_robin (one counter for the handler) every b request sees the
// counter 3 further on and lands on the same replica; with a counter per
// side, each replica of each route gets its share. The requests are sent
// one at a time and nothing else advances a side's counter, so the shares
// are exact but for where the counter stood after the fixture's first
// requests: each replica gets its share ±1.
func TestRoundRobinPerRoute(t *testing.T) {
	const rounds = 60 // of a, a, b: a's replicas get 60 each, b's 20
	t.Run("round_robin: one counter for every route", func(t *testing.T) {
		gf := rrGateway(t, "round_robin")
		got := gf.sendPattern(t, rounds, "/a/", "/a/", "/b/")
		if len(got["/b/"]) != 1 {
			t.Errorf("/b/ reached %v, want one replica only (the shared counter's starvation this test shows)", got["/b/"])
		}
	})
	t.Run("swarm_round_robin: a counter per route", func(t *testing.T) {
		gf := rrGateway(t, "swarm_round_robin")
		got := gf.sendPattern(t, rounds, "/a/", "/a/", "/b/")
		checkShares(t, got["/a/"], "/a/", rrAddrs["a"], 2*rounds/len(rrAddrs["a"]), 1)
		checkShares(t, got["/b/"], "/b/", rrAddrs["b"], rounds/len(rrAddrs["b"]), 1)
	})
}

// TestRoundRobinSkipsFailed: under swarm_round_robin, a replica whose
// dial is refused fails one request's first try, which is retried on
// another replica; then it is out for fail_duration, and the two left
// share c's requests evenly (a turn that lands on the failed one goes to
// the live ones alternately, not always to the next). Over any six turns
// the two get three each; the try the failure took and the rounds' ends
// leave each within 2 of half.
func TestRoundRobinSkipsFailed(t *testing.T) {
	const rounds = 60
	gf := rrGateway(t, "swarm_round_robin")
	got := gf.sendPattern(t, rounds, "/a/", "/c/")
	if n := got["/c/"][deadAddr]; n != 0 {
		t.Fatalf("the replica with no backend answered %d requests", n)
	}
	live := []string{rrAddrs["c"][0], rrAddrs["c"][2]}
	checkShares(t, got["/c/"], "/c/", live, rounds/2, 2)
	checkShares(t, got["/a/"], "/a/", rrAddrs["a"], rounds/2, 1)
}
