package containersource

// This file decides which network, and so which address, a container is
// reached on: the networks it shares with the gateway, its network label,
// and the module's preferred network.

import (
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// networkIndex is what route building knows of the engine's networks.
type networkIndex struct{ engine.Networks }

func indexNetworks(list []network.Summary, local []netip.Addr) networkIndex {
	return networkIndex{engine.IndexNetworks(list, local)}
}

// knows reports whether the index has every network the containers are
// on.
func (idx networkIndex) knows(cs []container.Summary) bool {
	for i := range cs {
		for _, ep := range endpoints(&cs[i]) {
			if _, ok := idx.ByID[ep.NetworkID]; !ok {
				return false
			}
		}
	}
	return true
}

// address returns the address a container is reached at: its address on
// the network engine.Choose picks, by its network label (label), the
// module's preferred network and its compose project (namespace), with a
// caveat when the choice was a guess.
func (idx networkIndex) address(c *container.Summary, namespace, label, preferred string) (netip.Addr, string, error) {
	var attached []engine.Network
	addrs := make(map[string]string)
	for name, ep := range endpoints(c) {
		ni, ok := idx.ByID[ep.NetworkID]
		if !ok {
			ni = engine.Network{ID: ep.NetworkID, Name: name}
		}
		if !ni.Ingress {
			attached = append(attached, ni)
			addrs[ni.ID] = ep.IPAddress
		}
	}
	engine.SortByName(attached)
	n, caveat, err := engine.Choose(attached, idx.GatewayOn, namespace, label, preferred, "container")
	if err != nil {
		return netip.Addr{}, "", err
	}
	a, err := netip.ParseAddr(addrs[n.ID])
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("its address on network %s: %w", n.Name, err)
	}
	return a, caveat, nil
}

// endpoints are a container's networks that give it an address, by
// network name (not host or none).
func endpoints(c *container.Summary) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings)
	if c.NetworkSettings == nil {
		return out
	}
	for name, ep := range c.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress != "" && ep.NetworkID != "" {
			out[name] = ep
		}
	}
	return out
}
