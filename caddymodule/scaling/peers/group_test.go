package peers

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

func TestLeaderAndTakeover(t *testing.T) {
	const interval = 200 * time.Millisecond
	s := newSwarm(t, interval)
	all := addrs("127.0.0.1", "127.0.0.2", "127.0.0.3")
	s.setAnswer(all, nil)
	gs := make([]*Group, len(all))
	for i, a := range all {
		gs[i] = s.start(t, s.config(t, a))
	}
	leaders := func() []int {
		var out []int
		for i, g := range gs {
			if g.Leader() {
				out = append(out, i)
			}
		}
		return out
	}
	waitFor(t, 20*interval, "every gateway sees the two others", func() bool {
		for _, g := range gs {
			if len(g.Reports()) != 2 {
				return false
			}
		}
		return true
	})
	waitFor(t, 5*interval, "127.0.0.1 alone decides", func() bool { return slices.Equal(leaders(), []int{0}) })

	// The leader stops answering; its address stays in the answer, so only
	// the liveness timeout can drop it.
	gs[0].Stop()
	stopped := time.Now()
	liveFor := interval * defaultMisses
	bound := interval * (defaultMisses + 1)
	for !gs[1].Leader() {
		if gs[2].Leader() {
			t.Fatal("127.0.0.3 took over while 127.0.0.2 is live")
		}
		if time.Since(stopped) > bound {
			t.Fatalf("127.0.0.2 did not take over within %v", bound)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(stopped)
	t.Logf("took over %v after the stop (bound %v)", took, bound)
	if took < liveFor-interval {
		t.Errorf("took over after %v, before a silent peer could time out (%v)", took, liveFor-interval)
	}
	if got := leaders(); !slices.Equal(got, []int{1}) {
		t.Errorf("leaders %v after the takeover, want [1]", got)
	}
	if got := gateways(gs[1].Reports()); !slices.Equal(got, []string{"127.0.0.3"}) {
		t.Errorf("127.0.0.2 has reports of %v, want [127.0.0.3]", got)
	}
}

func TestReportsExcludeSelfAndDead(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := newSwarm(t, interval)
	// 127.0.0.4 is in the answer but runs no gateway.
	s.setAnswer(addrs("127.0.0.3", "127.0.0.1", "127.0.0.2", "127.0.0.4"), nil)
	g1 := s.start(t, s.config(t, netip.MustParseAddr("127.0.0.1")))
	g2 := s.start(t, s.config(t, netip.MustParseAddr("127.0.0.2")))
	g3 := s.start(t, s.config(t, netip.MustParseAddr("127.0.0.3")))
	waitFor(t, 20*interval, "127.0.0.2 sees both others", func() bool { return len(g2.Reports()) == 2 })
	if got := gateways(g2.Reports()); !slices.Equal(got, []string{"127.0.0.1", "127.0.0.3"}) {
		t.Fatalf("127.0.0.2 has reports of %v, want 127.0.0.1 and 127.0.0.3", got)
	}
	if rep := g2.Reports()[0]; rep.Services["docker/svc"].Requests != 7 {
		t.Errorf("report %+v, want the one served", rep)
	}
	g3.Stop()
	waitFor(t, 2*interval*(defaultMisses+1), "127.0.0.3 is dropped", func() bool {
		return len(g1.Reports()) == 1 && len(g2.Reports()) == 1
	})
	if got := gateways(g2.Reports()); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("127.0.0.2 has reports of %v, want [127.0.0.1]", got)
	}
	if got := gateways(g1.Reports()); !slices.Equal(got, []string{"127.0.0.2"}) {
		t.Errorf("127.0.0.1 has reports of %v, want [127.0.0.2]", got)
	}
}

func TestDecidesAlone(t *testing.T) {
	tests := []struct {
		name   string
		answer []netip.Addr
		err    error
	}{
		{"the name does not resolve", nil, errors.New("no such host")},
		{"the answer is empty", []netip.Addr{}, nil},
		{"the answer does not hold this gateway", addrs("127.0.0.1"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSwarm(t, 20*time.Millisecond)
			s.setAnswer(tt.answer, tt.err)
			g := s.start(t, s.config(t, netip.MustParseAddr("127.0.0.5")))
			if g.Leader() {
				t.Error("decides before its first polls")
			}
			waitFor(t, time.Second, "two polls", func() bool { return g.polls() >= 2 })
			if !g.Leader() {
				t.Error("does not decide alone")
			}
			if got := g.Reports(); len(got) != 0 {
				t.Errorf("reports %v, want none", got)
			}
		})
	}
}

func TestSelfFromInterfaces(t *testing.T) {
	s := newSwarm(t, 20*time.Millisecond)
	// 127.0.0.2 is no interface address: it runs nothing and is never live.
	s.setAnswer(addrs("127.0.0.1", "127.0.0.2"), nil)
	cfg := s.config(t, netip.MustParseAddr("127.0.0.1"))
	cfg.Self = nil
	g := s.start(t, cfg)
	if !slices.Contains(g.cfg.Self, netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("detected addresses %v lack 127.0.0.1", g.cfg.Self)
	}
	waitFor(t, time.Second, "two polls", func() bool { return g.polls() >= 2 })
	if self := g.v.Load().self; self != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("found itself as %v in the answer, want 127.0.0.1", self)
	}
	if !g.Leader() {
		t.Error("the lowest address does not decide")
	}
	if got := g.Reports(); len(got) != 0 {
		t.Errorf("reports %v, want none (not itself)", gateways(got))
	}
}

func TestStartStop(t *testing.T) {
	s := newSwarm(t, 20*time.Millisecond)
	cfg := s.config(t, netip.MustParseAddr("127.0.0.1"))
	g, err := New(cfg, nil)
	if err == nil {
		t.Fatal("New accepted no report func")
	}
	g = s.start(t, cfg)
	if err := g.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	g.Stop()
	g.Stop()
	if g.Leader() || g.Reports() != nil {
		t.Error("a stopped gateway still decides or reports others")
	}
	if err := g.Start(t.Context()); err == nil {
		t.Error("Start after Stop succeeded")
	}
	unstarted, err := New(cfg, func() scaling.Report { return scaling.Report{} })
	if err != nil {
		t.Fatal(err)
	}
	unstarted.Stop() // must not block
}
