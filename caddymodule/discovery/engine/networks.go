package engine

// This file tells which of an engine's networks the gateway is on: those
// in whose subnet one of its own addresses lies.

import (
	"net"
	"net/netip"

	"github.com/docker/docker/api/types/network"
)

// InterfaceAddrs lists the addresses of this host's (or container's)
// interfaces, to tell which networks the gateway is attached to.
func InterfaceAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(ifAddrs))
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// Shares reports whether one of the local addresses lies in a subnet of
// network n: whether the gateway is attached to it.
func Shares(n network.Summary, local []netip.Addr) bool {
	for _, c := range n.IPAM.Config {
		pfx, err := netip.ParsePrefix(c.Subnet)
		if err != nil {
			continue
		}
		for _, a := range local {
			if pfx.Contains(a) {
				return true
			}
		}
	}
	return false
}
