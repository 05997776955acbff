package caddymodule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Test fixtures, built with functional options in the style of Traefik's
// builder_test.go.

const testNetID = "net1"

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testNetwork(id, name, subnet string) network.Summary {
	return network.Summary{ID: id, Name: name, Driver: "overlay", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}}
}

type serviceOpt func(*swarm.Service)

func swarmService(id string, opts ...serviceOpt) swarm.Service {
	one := uint64(1)
	s := swarm.Service{ID: id}
	s.Spec.Name = id
	s.Spec.Labels = map[string]string{}
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	s.Spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: testNetID}}
	s.CreatedAt = epoch
	for _, o := range opts {
		o(&s)
	}
	return s
}

func serviceName(n string) serviceOpt { return func(s *swarm.Service) { s.Spec.Name = n } }

func serviceLabels(kv ...string) serviceOpt {
	return func(s *swarm.Service) {
		for i := 0; i+1 < len(kv); i += 2 {
			s.Spec.Labels[kv[i]] = kv[i+1]
		}
	}
}

func serviceCreated(d time.Duration) serviceOpt {
	return func(s *swarm.Service) { s.CreatedAt = epoch.Add(d) }
}

func serviceReplicas(n uint64) serviceOpt {
	return func(s *swarm.Service) { s.Spec.Mode.Replicated.Replicas = &n }
}

func serviceNetworks(ids ...string) serviceOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Networks = nil
		for _, id := range ids {
			s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: id})
		}
	}
}

func serviceVIPs(netID, cidr string) serviceOpt {
	return func(s *swarm.Service) {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: netID, Addr: cidr})
	}
}

func serviceUpdating() serviceOpt {
	return func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating} }
}

// enabled is the label set of a routed service on port 8080.
func enabled(extra ...string) serviceOpt {
	return serviceLabels(append([]string{"faas.enable", "true", "faas.port", "8080"}, extra...)...)
}

type taskOpt func(*swarm.Task)

// swarmTask is a running task of service svc with address addr on netID.
func swarmTask(svc, addr string, opts ...taskOpt) swarm.Task {
	t := swarm.Task{ID: fmt.Sprintf("%s-%s", svc, addr), ServiceID: svc, DesiredState: swarm.TaskStateRunning}
	t.Status.State = swarm.TaskStateRunning
	t.NetworksAttachments = []swarm.NetworkAttachment{{Network: swarm.Network{ID: testNetID}, Addresses: []string{addr + "/24"}}}
	for _, o := range opts {
		o(&t)
	}
	return t
}

func taskState(desired, actual swarm.TaskState) taskOpt {
	return func(t *swarm.Task) { t.DesiredState, t.Status.State = desired, actual }
}

func taskOnNetwork(netID string) taskOpt {
	return func(t *swarm.Task) { t.NetworksAttachments[0].Network.ID = netID }
}

// checkErr checks err against wantErr, a substring it must contain ("" for
// no error), and reports whether an error was wanted, so that the case is
// done.
func checkErr(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error = %v, want one containing %q", err, wantErr)
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	}
	return wantErr != ""
}
