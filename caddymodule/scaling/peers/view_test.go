package peers

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestViewLeader(t *testing.T) {
	now := time.Unix(1000, 0)
	const liveFor = 3 * time.Second
	fresh := seen{report: scaling.Report{Gateway: "x"}, at: now.Add(-time.Second)}
	edge := seen{report: scaling.Report{Gateway: "x"}, at: now.Add(-liveFor)}
	stale := seen{report: scaling.Report{Gateway: "x"}, at: now.Add(-liveFor - time.Millisecond)}
	tests := []struct {
		name  string
		view  view
		want  bool
		nLive int
	}{
		{"lowest live decides", view{self: netip.MustParseAddr("10.0.0.2"), polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.3"): fresh, netip.MustParseAddr("10.0.0.10"): fresh}}, true, 2},
		{"a lower live peer decides", view{self: netip.MustParseAddr("10.0.0.2"), polls: 5, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.1"): fresh, netip.MustParseAddr("10.0.0.3"): fresh}}, false, 2},
		{"addresses compare as numbers, not strings", view{self: netip.MustParseAddr("10.0.0.9"), polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.10"): fresh}}, true, 1},
		{"a lower peer live to the last instant", view{self: netip.MustParseAddr("10.0.0.2"), polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.1"): edge}}, false, 1},
		{"a lower peer silent too long is dead", view{self: netip.MustParseAddr("10.0.0.2"), polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.1"): stale}}, true, 0},
		{"a lower peer that never answered is not live", view{self: netip.MustParseAddr("10.0.0.2"), polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.1"): {}}}, true, 0},
		{"not in the answer: decides alone", view{polls: 2, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.1"): fresh}}, true, 1},
		{"left the answer (stopping): leaves it to the others", view{polls: 9, left: true, peers: map[netip.Addr]seen{
			netip.MustParseAddr("10.0.0.3"): fresh}}, false, 1},
		{"single gateway", view{self: netip.MustParseAddr("10.0.0.2"), polls: 2, peers: map[netip.Addr]seen{}}, true, 0},
		{"not before two polls", view{self: netip.MustParseAddr("10.0.0.2"), polls: 1, peers: map[netip.Addr]seen{}}, false, 0},
		{"not before two polls, alone either", view{polls: 1}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.view.leader(now, liveFor); got != tt.want {
				t.Errorf("leader() = %v, want %v", got, tt.want)
			}
			if got := len(tt.view.reports(now, liveFor)); got != tt.nLive {
				t.Errorf("%d reports, want %d", got, tt.nLive)
			}
		})
	}
}

func TestViewNext(t *testing.T) {
	at := time.Unix(1000, 0)
	rep := func(name string) seen { return seen{report: scaling.Report{Gateway: name}, at: at} }
	prev := &view{self: netip.MustParseAddr("10.0.0.2"), polls: 4, peers: map[netip.Addr]seen{
		netip.MustParseAddr("10.0.0.1"): rep("a"),
		netip.MustParseAddr("10.0.0.3"): rep("c"),
	}}
	self := addrs("127.0.0.1", "10.0.0.2", "172.18.0.5")
	tests := []struct {
		name      string
		answer    []netip.Addr
		wantSelf  string // "" when not in the answer
		wantPeers []netip.Addr
		wantKept  []string // gateways whose reports are carried over
		wantLeft  bool
	}{
		{"same answer keeps the reports", addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), "10.0.0.2", addrs("10.0.0.1", "10.0.0.3"), []string{"a", "c"}, false},
		{"resolving failed: the last answer is kept", nil, "10.0.0.2", addrs("10.0.0.1", "10.0.0.3"), []string{"a", "c"}, false},
		{"a peer gone from the answer is dropped", addrs("10.0.0.2", "10.0.0.3"), "10.0.0.2", addrs("10.0.0.3"), []string{"c"}, false},
		{"a new peer starts unseen", addrs("10.0.0.2", "10.0.0.4"), "10.0.0.2", addrs("10.0.0.4"), nil, false},
		{"self gone from the answer: left", addrs("10.0.0.1", "10.0.0.3"), "", addrs("10.0.0.1", "10.0.0.3"), []string{"a", "c"}, true},
		{"self by its lowest address, v4-mapped too", addrs("::ffff:172.18.0.5", "10.0.0.2", "10.0.0.3"), "10.0.0.2", addrs("10.0.0.3"), []string{"c"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := prev.next(tt.answer, self)
			if n.polls != prev.polls+1 {
				t.Errorf("polls = %d, want %d", n.polls, prev.polls+1)
			}
			if got := n.self.String(); (tt.wantSelf == "" && n.self.IsValid()) || (tt.wantSelf != "" && got != tt.wantSelf) {
				t.Errorf("self = %v, want %q", n.self, tt.wantSelf)
			}
			if n.left != tt.wantLeft {
				t.Errorf("left = %v, want %v", n.left, tt.wantLeft)
			}
			if got := n.addrs(); !slices.Equal(got, tt.wantPeers) {
				t.Errorf("peers = %v, want %v", got, tt.wantPeers)
			}
			var kept []string
			for _, r := range n.reports(at, time.Second) {
				kept = append(kept, r.Gateway)
			}
			if !slices.Equal(kept, tt.wantKept) {
				t.Errorf("reports of %v, want %v", kept, tt.wantKept)
			}
		})
	}
	if len(prev.peers) != 2 {
		t.Errorf("next changed the previous view: %v", prev.peers)
	}
}

// TestViewLeaves follows a gateway through the answers of its task's life:
// never in them (it decides alone), in them, out of them as it stops
// (swarm takes a stopping task out at once: it leaves the decisions to the
// live peer, which counts it no more), through a failed lookup, and back.
func TestViewLeaves(t *testing.T) {
	now := time.Unix(1000, 0)
	self := addrs("10.0.0.2")
	v := &view{polls: 1}
	for _, step := range []struct {
		answer     []netip.Addr
		wantLeader bool
		wantLeft   bool
	}{
		{addrs("10.0.0.3"), true, false},             // never in the answer: alone
		{addrs("10.0.0.2", "10.0.0.3"), true, false}, // in it, the lowest
		{addrs("10.0.0.3"), false, true},             // out of it: stopping
		{nil, false, true},                           // the lookup failed: still out
		{addrs("10.0.0.3"), false, true},
		{addrs("10.0.0.2", "10.0.0.3"), true, false}, // back
	} {
		v = v.next(step.answer, self)
		for addr := range v.peers {
			v.peers[addr] = seen{at: now} // every peer answers
		}
		if got := v.leader(now, time.Second); got != step.wantLeader || v.left != step.wantLeft {
			t.Errorf("after answer %v (poll %d): leader %v, left %v; want %v, %v", step.answer, v.polls, got, v.left, step.wantLeader, step.wantLeft)
		}
	}
}
