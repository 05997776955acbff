package engine

// This file tells which of an engine's networks the gateway is on: those
// in whose subnet one of its own addresses lies.

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

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

// Network is what choosing a network needs to know about one.
type Network struct {
	ID, Name string
	Ingress  bool
	// Shared is true when the gateway has an address in the network.
	Shared bool
}

// Choose picks the network a service or container (what, in messages) is
// reached on, among the networks it is attached to (attached, sorted by
// name, ingress left out) that the gateway can reach: those it shares
// with the gateway or, when the gateway shares none of the engine's
// networks (it runs outside them, as in development), all of them.
//
// label, when set, is its network label and must name one of those
// networks: its full name, its name within the stack or compose project
// namespace, or its ID. Otherwise the preferred network is used if it is
// one of them, else the only one, else the first by name with a caveat
// that says to set the network label.
func Choose(attached []Network, gatewayOn bool, namespace, label, preferred, what string) (n Network, caveat string, err error) {
	if len(attached) == 0 {
		return n, "", fmt.Errorf("it is attached to no network the gateway can reach (only ingress or none)")
	}
	reachable := attached
	if gatewayOn {
		reachable = slices.DeleteFunc(slices.Clone(attached), func(n Network) bool { return !n.Shared })
	}
	named := func(name string) (Network, bool) {
		i := slices.IndexFunc(reachable, func(n Network) bool {
			return n.Name == name || n.ID == name || (namespace != "" && n.Name == namespace+"_"+name)
		})
		if i < 0 {
			return Network{}, false
		}
		return reachable[i], true
	}
	if label != "" {
		if n, ok := named(label); ok {
			return n, "", nil
		}
		return n, "", fmt.Errorf("network %q of its network label is not one it shares with the gateway (it shares: %s)", label, names(reachable))
	}
	if len(reachable) == 0 {
		return n, "", fmt.Errorf("it shares no network with the gateway (its networks: %s)", names(attached))
	}
	if n, ok := named(preferred); preferred != "" && ok {
		return n, "", nil
	}
	if len(reachable) > 1 && gatewayOn {
		return reachable[0], fmt.Sprintf("%s shares several networks with the gateway (%s); using %s, set the network label to choose", what, names(reachable), reachable[0].Name), nil
	}
	return reachable[0], "", nil
}

// SortByName sorts networks by name.
func SortByName(ns []Network) {
	slices.SortFunc(ns, func(a, b Network) int { return cmp.Compare(a.Name, b.Name) })
}

func names(ns []Network) string {
	if len(ns) == 0 {
		return "none"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return strings.Join(s, ", ")
}

// Networks is what route building knows of an engine's networks.
type Networks struct {
	ByID map[string]Network
	// GatewayOn is true when the gateway shares any of them but ingress:
	// it runs on the engine's networks, not outside them as in
	// development.
	GatewayOn bool
}

// IndexNetworks indexes a network listing, telling by the gateway's own
// addresses (local) which networks it is on.
func IndexNetworks(list []network.Summary, local []netip.Addr) Networks {
	idx := Networks{ByID: make(map[string]Network, len(list))}
	for _, n := range list {
		ni := Network{ID: n.ID, Name: n.Name, Ingress: n.Ingress || n.Name == "ingress", Shared: Shares(n, local)}
		idx.ByID[n.ID] = ni
		idx.GatewayOn = idx.GatewayOn || (ni.Shared && !ni.Ingress)
	}
	return idx
}
