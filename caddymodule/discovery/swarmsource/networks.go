package swarmsource

// This file decides which network a service is reached on: the networks it
// shares with the gateway, its network label, and the module's preferred
// network.

import (
	"net/netip"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// networkIndex is what route building knows of the swarm's networks.
type networkIndex struct{ engine.Networks }

func indexNetworks(list []network.Summary, local []netip.Addr) networkIndex {
	return networkIndex{engine.IndexNetworks(list, local)}
}

// choose picks the network a service is reached on (see engine.Choose),
// by its network label and the module's preferred network.
func (idx networkIndex) choose(svc *swarm.Service, label, preferred string) (id, caveat string, err error) {
	n, caveat, err := engine.Choose(idx.attached(svc), idx.GatewayOn, svc.Spec.Labels[labels.StackNamespace], label, preferred, "service")
	return n.ID, caveat, err
}

// attached returns the non-ingress networks of the service's spec that are
// known here, sorted by name.
func (idx networkIndex) attached(svc *swarm.Service) []engine.Network {
	var attached []engine.Network
	for _, n := range svc.Spec.TaskTemplate.Networks {
		ni, ok := idx.ByID[n.Target]
		if !ok {
			// The spec may name the network instead of its ID.
			for _, cand := range idx.ByID {
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
	engine.SortByName(attached)
	return attached
}
