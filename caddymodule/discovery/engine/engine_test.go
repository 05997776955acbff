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
