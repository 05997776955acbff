package swarmsource

// This file decides which network a service is reached on: the networks it
// shares with the gateway, its network label, and the module's preferred
// network.

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// netInfo is what route building needs to know about a network.
type netInfo struct {
	ID, Name string
	Ingress  bool
	// Shared is true when the gateway has an address in the network.
	Shared bool
}

// networkIndex is what route building knows of the swarm's networks.
type networkIndex struct {
	byID map[string]netInfo
	// gatewayInSwarm is true when the gateway shares any non-ingress
	// network: it runs in the swarm, not outside it as in development.
	gatewayInSwarm bool
}

func indexNetworks(list []network.Summary, local []netip.Addr) networkIndex {
	idx := networkIndex{byID: make(map[string]netInfo, len(list))}
	for _, n := range list {
		ni := netInfo{ID: n.ID, Name: n.Name, Ingress: n.Ingress || n.Name == "ingress", Shared: engine.Shares(n, local)}
		idx.byID[n.ID] = ni
		idx.gatewayInSwarm = idx.gatewayInSwarm || (ni.Shared && !ni.Ingress)
	}
	return idx
}

// choose picks the network a service is reached on, among the networks it
// is attached to that the gateway can reach: those it shares with the
// gateway or, when the gateway runs outside the swarm (as in development),
// all of them.
//
// label, when set, is the service's network label and must name one of
// those networks: its full name, its name within the service's stack, or
// its ID. Otherwise the module's preferred network is used if it is one of
// them, else the only one, else the first by name with a caveat that says
// to set the network label.
func (idx networkIndex) choose(svc *swarm.Service, label, preferred string) (id, caveat string, err error) {
	attached := idx.attached(svc)
	if len(attached) == 0 {
		return "", "", fmt.Errorf("it is attached to no network the gateway can reach (only ingress or none)")
	}
	reachable := attached
	if idx.gatewayInSwarm {
		reachable = slices.DeleteFunc(slices.Clone(attached), func(n netInfo) bool { return !n.Shared })
	}
	ns := svc.Spec.Labels[labels.StackNamespace]
	named := func(name string) (netInfo, bool) {
		i := slices.IndexFunc(reachable, func(n netInfo) bool {
			return n.Name == name || n.ID == name || (ns != "" && n.Name == ns+"_"+name)
		})
		if i < 0 {
			return netInfo{}, false
		}
		return reachable[i], true
	}
	if label != "" {
		if n, ok := named(label); ok {
			return n.ID, "", nil
		}
		return "", "", fmt.Errorf("network %q of its network label is not one it shares with the gateway (it shares: %s)", label, names(reachable))
	}
	if len(reachable) == 0 {
		return "", "", fmt.Errorf("it shares no network with the gateway (its networks: %s)", names(attached))
	}
	if n, ok := named(preferred); preferred != "" && ok {
		return n.ID, "", nil
	}
	if len(reachable) > 1 && idx.gatewayInSwarm {
		return reachable[0].ID, fmt.Sprintf("service shares several networks with the gateway (%s); using %s, set the network label to choose", names(reachable), reachable[0].Name), nil
	}
	return reachable[0].ID, "", nil
}

// attached returns the non-ingress networks of the service's spec that are
// known here, sorted by name.
func (idx networkIndex) attached(svc *swarm.Service) []netInfo {
	var attached []netInfo
	for _, n := range svc.Spec.TaskTemplate.Networks {
		ni, ok := idx.byID[n.Target]
		if !ok {
			// The spec may name the network instead of its ID.
			for _, cand := range idx.byID {
				if cand.Name == n.Target {
					ni, ok = cand, true
					break
				}
			}
		}
		if ok && !ni.Ingress {
			attached = append(attached, ni)
		}
	}
	slices.SortFunc(attached, func(a, b netInfo) int { return cmp.Compare(a.Name, b.Name) })
	return attached
}

func names(ns []netInfo) string {
	if len(ns) == 0 {
		return "none"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return strings.Join(s, ", ")
}
