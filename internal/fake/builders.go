package fake

import (
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// This file holds the swarm objects tests list from an Engine, built with
// functional options in the style of Traefik's builder_test.go.

// NetID is the ID of the overlay network services and tasks are on unless
// told otherwise.
const NetID = "net1"

// Epoch is when services are created unless told otherwise.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Network is an overlay network of the given subnet.
func Network(id, name, subnet string) network.Summary {
	return network.Summary{ID: id, Name: name, Driver: "overlay", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}}
}

// ServiceOpt changes a Service.
type ServiceOpt func(*swarm.Service)

// Service is a replicated service of one replica on NetID, named id,
// with no label.
func Service(id string, opts ...ServiceOpt) swarm.Service {
	one := uint64(1)
	s := swarm.Service{ID: id}
	s.Spec.Name = id
	s.Spec.Labels = map[string]string{}
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	s.Spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: NetID}}
	s.CreatedAt = Epoch
	for _, o := range opts {
		o(&s)
	}
	return s
}

// ServiceName sets the service's name.
func ServiceName(n string) ServiceOpt { return func(s *swarm.Service) { s.Spec.Name = n } }

// ServiceLabels sets labels, given as key, value, key, value...
func ServiceLabels(kv ...string) ServiceOpt {
	return func(s *swarm.Service) {
		for i := 0; i+1 < len(kv); i += 2 {
			s.Spec.Labels[kv[i]] = kv[i+1]
		}
	}
}

// ServiceCreated makes the service created d after Epoch.
func ServiceCreated(d time.Duration) ServiceOpt {
	return func(s *swarm.Service) { s.CreatedAt = Epoch.Add(d) }
}

// ServiceReplicas sets the replica count.
func ServiceReplicas(n uint64) ServiceOpt {
	return func(s *swarm.Service) { s.Spec.Mode.Replicated.Replicas = &n }
}

// ServiceNetworks puts the service on the networks of the given IDs only.
func ServiceNetworks(ids ...string) ServiceOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Networks = nil
		for _, id := range ids {
			s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: id})
		}
	}
}

// ServiceVIPs gives the service a virtual IP on a network.
func ServiceVIPs(netID, cidr string) ServiceOpt {
	return func(s *swarm.Service) {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: netID, Addr: cidr})
	}
}

// ServiceUpdating makes an update of the service in progress.
func ServiceUpdating() ServiceOpt {
	return func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating} }
}

// Enabled is the label set of a routed service on port 8080.
func Enabled(extra ...string) ServiceOpt {
	return ServiceLabels(append([]string{"faas.enable", "true", "faas.port", "8080"}, extra...)...)
}

// TaskOpt changes a Task.
type TaskOpt func(*swarm.Task)

// Task is a running task of service svc with address addr on netID.
func Task(svc, addr string, opts ...TaskOpt) swarm.Task {
	t := swarm.Task{ID: fmt.Sprintf("%s-%s", svc, addr), ServiceID: svc, DesiredState: swarm.TaskStateRunning}
	t.Status.State = swarm.TaskStateRunning
	t.NetworksAttachments = []swarm.NetworkAttachment{{Network: swarm.Network{ID: NetID}, Addresses: []string{addr + "/24"}}}
	for _, o := range opts {
		o(&t)
	}
	return t
}

// TaskState sets the task's desired and actual states.
func TaskState(desired, actual swarm.TaskState) TaskOpt {
	return func(t *swarm.Task) { t.DesiredState, t.Status.State = desired, actual }
}

// TaskOnNode places the task on the node with that ID.
func TaskOnNode(nodeID string) TaskOpt { return func(t *swarm.Task) { t.NodeID = nodeID } }

// TaskOnNetwork moves the task's address to another network.
func TaskOnNetwork(netID string) TaskOpt {
	return func(t *swarm.Task) { t.NetworksAttachments[0].Network.ID = netID }
}

// Seed puts service s, with running tasks at the given addresses, on the
// test network NetID (10.0.1.0/24) in place of what fe lists.
func (fe *Engine) Seed(opts []ServiceOpt, addrs ...string) {
	fe.Networks = []network.Summary{Network(NetID, "faas_net", "10.0.1.0/24")}
	fe.Services = []swarm.Service{Service("s", append([]ServiceOpt{Enabled(), ServiceReplicas(uint64(len(addrs)))}, opts...)...)}
	fe.Tasks = nil
	for _, a := range addrs {
		fe.Tasks = append(fe.Tasks, Task("s", a))
	}
}

// ContainerOpt changes a container.Summary.
type ContainerOpt func(*container.Summary)

// Container is a running container named name with address addr on
// NetID, created d after Epoch, routed on port 8080.
func Container(id, name, addr string, d time.Duration, opts ...ContainerOpt) container.Summary {
	c := container.Summary{
		ID: id, Names: []string{"/" + name}, State: container.StateRunning, Status: "Up 2 seconds",
		Created: Epoch.Add(d).Unix(),
		Labels:  map[string]string{"faas.enable": "true", "faas.port": "8080"},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"faas_net": {NetworkID: NetID, IPAddress: addr},
		}},
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ContainerLabels sets labels, given as key, value, key, value...
func ContainerLabels(kv ...string) ContainerOpt {
	return func(c *container.Summary) {
		for i := 0; i+1 < len(kv); i += 2 {
			c.Labels[kv[i]] = kv[i+1]
		}
	}
}

// Compose makes the container one of compose service svc of project.
func Compose(project, svc string) ContainerOpt {
	return ContainerLabels("com.docker.compose.project", project, "com.docker.compose.service", svc)
}

// ContainerStatus sets the listing's status ("Up 1 minute (healthy)").
func ContainerStatus(s string) ContainerOpt { return func(c *container.Summary) { c.Status = s } }

// ContainerOn adds the container to network name (of ID id) at addr.
func ContainerOn(name, id, addr string) ContainerOpt {
	return func(c *container.Summary) {
		c.NetworkSettings.Networks[name] = &network.EndpointSettings{NetworkID: id, IPAddress: addr}
	}
}

// ContainerPublishes publishes the container's TCP port private on port
// public of its engine's host, on address ip ("0.0.0.0" for all).
func ContainerPublishes(ip string, private, public uint16) ContainerOpt {
	return func(c *container.Summary) {
		c.Ports = append(c.Ports, container.Port{IP: ip, PrivatePort: private, PublicPort: public, Type: "tcp"})
	}
}

// ServicePublishes publishes the service's TCP port target on port
// published of the swarm's nodes, in mode (ingress or host), as its
// endpoint reports it.
func ServicePublishes(target, published uint32, mode swarm.PortConfigPublishMode) ServiceOpt {
	return func(s *swarm.Service) {
		s.Endpoint.Ports = append(s.Endpoint.Ports, swarm.PortConfig{Protocol: swarm.PortConfigProtocolTCP, TargetPort: target, PublishedPort: published, PublishMode: mode})
	}
}
