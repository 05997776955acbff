package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: MinBackoff, 2: 2 * MinBackoff, 3: MaxBackoff, 10: MaxBackoff} {
		if got := Backoff(attempt); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

// TestIndexNetworks: the gateway is on a network when one of its
// addresses lies in one of its subnets; ingress alone does not put it on
// the engine's networks.
func TestIndexNetworks(t *testing.T) {
	nets := []network.Summary{
		{ID: "a", Name: "app", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "bad"}, {Subnet: "10.0.1.0/24"}}}},
		{ID: "i", Name: "ingress", Ingress: true, IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.0.0.0/24"}}}},
	}
	for _, tt := range []struct {
		addr          string
		shared, onEng bool
	}{
		{"10.0.1.7", true, true},
		{"10.0.0.7", false, false},
		{"192.168.0.1", false, false},
	} {
		idx := IndexNetworks(nets, []netip.Addr{netip.MustParseAddr(tt.addr)})
		if idx.ByID["a"].Shared != tt.shared || idx.GatewayOn != tt.onEng {
			t.Errorf("gateway at %s: app shared %v, on the engine %v; want %v, %v", tt.addr, idx.ByID["a"].Shared, idx.GatewayOn, tt.shared, tt.onEng)
		}
	}
}

// TestNoEnv: the environment's TLS settings apply to a connection that
// takes them (the one engine of the top-level options), and not to one
// with NoEnv (an engine of several, which has its own).
func TestNoEnv(t *testing.T) {
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Setenv("DOCKER_CERT_PATH", t.TempDir()) // no certificate in it
	if _, err := NewClient(Conn{DockerHost: "unix:///var/run/docker.sock"}); err == nil {
		t.Error("the environment's missing certificates were not used")
	}
	cli, err := NewClient(Conn{DockerHost: "unix:///var/run/docker.sock", NoEnv: true})
	if err != nil {
		t.Fatalf("with NoEnv: %v", err)
	}
	if h := cli.DaemonHost(); h != "unix:///var/run/docker.sock" {
		t.Errorf("host %q", h)
	}
	_ = cli.Close()
}
