package peers

import (
	"fmt"
	"net"
	"net/netip"
)

// interfaceAddrs returns the addresses of this host's interfaces.
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("peers: listing this host's addresses: %w", err)
	}
	var self []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			self = append(self, p.Addr().Unmap())
		}
	}
	return self, nil
}
