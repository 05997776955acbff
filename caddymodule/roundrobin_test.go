package caddymodule

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// up is an upstream for pick: available or not.
type up bool

func (u up) Available() bool { return bool(u) }

// TestPick: the upstream whose turn it is, or, when that one is out, the
// turn's among the available ones; -1 for none.
func TestPick(t *testing.T) {
	const on, out = up(true), up(false)
	for _, tt := range []struct {
		name string
		pool []up
		turn uint64
		want int
	}{
		{"empty", nil, 0, -1},
		{"one", []up{on}, 7, 0},
		{"one, out", []up{out}, 0, -1},
		{"its turn", []up{on, on, on}, 4, 1},
		{"all out", []up{out, out, out}, 2, -1},
		{"its turn, out: the first of the others, turn even", []up{on, out, on}, 4, 0},
		{"its turn, out: the second of the others, turn odd", []up{on, out, on}, 1, 2},
		{"the last turn before the counter wraps", []up{on, on, on}, math.MaxUint64, 0}, // 2^64-1 = 3·(2^64-1)/3
		{"the last turn, its upstream out: odd, the second of the others", []up{out, on, on}, math.MaxUint64, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(tt.pool, tt.turn); got != tt.want {
				t.Errorf("pick(%v, %d) = %d, want %d", tt.pool, tt.turn, got, tt.want)
			}
		})
	}
	// Over n(n-1) turns with one of n out, each other gets n turns.
	pool := []up{on, on, out, on, on}
	got := make([]int, len(pool))
	for turn := range uint64(len(pool) * (len(pool) - 1)) {
		got[pick(pool, turn)]++
	}
	if want := []int{5, 5, 0, 5, 5}; !slices.Equal(got, want) {
		t.Errorf("turns per upstream %v, want %v", got, want)
	}
}

// TestSwarmRoundRobinSelect: each side takes turns on its own counter;
// a request without a side, or with one of a table never published (no
// meter), on the handler's.
func TestSwarmRoundRobinSelect(t *testing.T) {
	w := fake.Watcher(discovery.Options{})
	publish(w, benchState(2, 3))
	a, b := w.Table().Match("", "/svc00000").Pick(), w.Table().Match("", "/svc00001").Pick()
	unpublished := &routing.Side{Service: "x"}
	req := func(side *routing.Side) *http.Request {
		vars := map[string]any{}
		if side != nil {
			vars[routeVar] = side
		}
		return httptest.NewRequest(http.MethodGet, "/", nil).WithContext(context.WithValue(context.Background(), caddyhttp.VarsCtxKey, vars))
	}
	pool := newUpstreams([]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"})
	var p SwarmRoundRobin
	if got := p.Select(nil, req(a), nil); got != nil {
		t.Errorf("an empty pool gave %v", got)
	}
	var seq []string
	for _, r := range []*http.Request{req(a), req(a), req(b), req(a), req(b), req(nil), req(unpublished), req(nil)} {
		seq = append(seq, p.Select(pool, r, nil).Dial)
	}
	want := []string{
		"10.0.0.1:80", "10.0.0.2:80", // a's turns 0 and 1
		"10.0.0.1:80",                               // b's turn 0
		"10.0.0.3:80",                               // a's turn 2
		"10.0.0.2:80",                               // b's turn 1
		"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", // the handler's turns 0 to 2
	}
	if !slices.Equal(seq, want) {
		t.Errorf("selected %v, want %v", seq, want)
	}
}

// TestSwarmRoundRobinCaddyfile: the policy takes no arguments.
func TestSwarmRoundRobinCaddyfile(t *testing.T) {
	if err := new(SwarmRoundRobin).UnmarshalCaddyfile(caddyfile.NewTestDispenser("swarm_round_robin")); err != nil {
		t.Errorf("no arguments: %v", err)
	}
	if err := new(SwarmRoundRobin).UnmarshalCaddyfile(caddyfile.NewTestDispenser("swarm_round_robin 3")); err == nil {
		t.Error("an argument was accepted")
	}
}
