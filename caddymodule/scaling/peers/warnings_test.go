package peers

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestWarnsOncePerFailure(t *testing.T) {
	s := newSwarm(t, 20*time.Millisecond)
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := s.config(t, netip.MustParseAddr("127.0.0.5"))
	cfg.Logger = zap.New(core)
	// Nothing listens on 127.0.0.4 and 127.0.0.6.
	s.setAnswer(addrs("127.0.0.4", "127.0.0.5", "127.0.0.6"), nil)
	g := s.start(t, cfg)
	waitFor(t, 2*time.Second, "five polls", func() bool { return g.polls() >= 5 })
	s.setAnswer(nil, errors.New("no such host"))
	n := g.polls()
	waitFor(t, 2*time.Second, "five more polls", func() bool { return g.polls() >= n+5 })
	g.Stop()

	warned := map[string]int{}
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		warned[e.ContextMap()["target"].(string)]++
	}
	want := map[string]int{"127.0.0.4": 1, "127.0.0.6": 1, "tasks.gateway": 1}
	for target, n := range want {
		if warned[target] != n {
			t.Errorf("%d warnings for %s, want %d (all: %v)", warned[target], target, n, warned)
		}
	}
	if len(warned) != len(want) {
		t.Errorf("warnings for %v, want only %v", warned, want)
	}
}
