package peers

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
	"github.com/faas-gateway/faas-gateway/internal/testca"
)

// swarm is a fake swarm of gateways on loopback addresses (127.0.0.x),
// all on one port, found through a resolver whose answer the test sets.
type swarm struct {
	ca       *testca.CA
	port     uint16
	interval time.Duration

	mu     sync.Mutex
	answer []netip.Addr
	err    error
}

func newSwarm(t *testing.T, interval time.Duration) *swarm {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &swarm{ca: testca.New(t, "deployment CA"), port: uint16(port), interval: interval}
}

// setAnswer sets what the gateways' name resolves to (err: it fails).
func (s *swarm) setAnswer(answer []netip.Addr, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer, s.err = answer, err
}

func (s *swarm) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.Addr(nil), s.answer...), s.err
}

// config returns the configuration of the gateway at addr, with the
// gateway certificate certs.sh should make.
func (s *swarm) config(t *testing.T, addr netip.Addr) Config {
	t.Helper()
	certFile, keyFile := s.ca.Issue(t, "gateway-"+addr.String(), testca.Both, "faas-gateway")
	return Config{
		Name:     "tasks.gateway",
		Port:     s.port,
		Listen:   netip.AddrPortFrom(addr, s.port).String(),
		Self:     []netip.Addr{addr},
		CAFile:   s.ca.File,
		CertFile: certFile,
		KeyFile:  keyFile,
		Interval: s.interval,
		Resolve:  s.resolve,
		Logger:   zaptest.NewLogger(t).Named(addr.String()),
	}
}

// start starts a gateway with cfg, reporting as its address; the test's
// cleanup stops it.
func (s *swarm) start(t *testing.T, cfg Config) *Group {
	t.Helper()
	name := netip.MustParseAddrPort(cfg.Listen).Addr().String()
	g, err := New(cfg, func() scaling.Report {
		return scaling.Report{Gateway: name, Services: map[string]scaling.ServiceLoad{"docker/svc": {InFlight: 1, Requests: 7}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g
}

// gateways returns the gateways' names in reps.
func gateways(reps []scaling.Report) []string {
	names := make([]string, len(reps))
	for i, r := range reps {
		names[i] = r.Gateway
	}
	return names
}

// waitFor waits until cond holds, for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// polls returns how many polls g has done.
func (g *Group) polls() int { return g.v.Load().polls }
