package swarmsource

// This file turns one listing of the swarm (services, tasks, networks) into
// a route table, and reports beside it what the watcher needs to know but
// requests do not: which services are converging, and why some services
// are not routed.

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// State is one consistent listing of the Docker API.
type State struct {
	Services []swarm.Service
	Tasks    []swarm.Task
	Networks []network.Summary
	// LocalAddrs are the gateway's own IP addresses; a network in whose
	// subnet one of them lies is a network the gateway is attached to.
	LocalAddrs []netip.Addr
}

// Build turns a listing into a route table and a report, by opts' label
// prefix, preferred network and default load-balancing mode. It is a pure
// function: everything it needs is in its arguments.
func Build(st State, opts Options) (*routing.Table, discovery.Report) {
	nets := indexNetworks(st.Networks, st.LocalAddrs)
	tasksBySvc := make(map[string][]*swarm.Task)
	for i := range st.Tasks {
		t := &st.Tasks[i]
		tasksBySvc[t.ServiceID] = append(tasksBySvc[t.ServiceID], t)
	}

	t := routing.NewTable()
	rep := discovery.NewReport()
	// Oldest service first, so that the oldest claim on a host and prefix
	// wins.
	services := slices.Clone(st.Services)
	slices.SortFunc(services, func(a, b swarm.Service) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for i := range services {
		svc := &services[i]
		name := svc.Spec.Name
		cfg, err := labels.Parse(svc.Spec.Labels, opts.LabelPrefix, name, opts.LB)
		if err != nil {
			rep.Add(discovery.ProblemKey{Service: name}, discovery.ReasonLabels, "service not routed: "+err.Error())
			continue
		}
		if !cfg.Enabled {
			continue
		}
		tasks := tasksBySvc[svc.ID]
		conv := isConverging(svc, tasks)
		rep.Services[name] = discovery.ServiceStatus{
			ID: svc.ID, Converging: conv, Starting: conv && isStarting(svc, tasks),
			Idle: !conv && wantsNoReplica(svc), Created: svc.CreatedAt,
		}
		for _, d := range cfg.Disabled {
			rep.Add(discovery.ProblemKey{Service: name, Route: d.Route}, discovery.ReasonLabels, discovery.NotRouted(d.Route)+d.Err.Error())
		}
		for _, d := range cfg.Warnings {
			rep.Add(discovery.ProblemKey{Service: name, Route: d.Route}, discovery.ReasonCaveat, d.Err.Error())
		}

		scaled := scaledOf(svc, tasks, opts.LabelPrefix, rep)

		var netID, caveat string
		if opts.PublishHost == "" {
			netID, caveat, err = nets.choose(svc, cfg.Network, opts.Network)
		}
		if err != nil {
			rep.Add(discovery.ProblemKey{Service: name}, discovery.ReasonNetwork, "service not routed: "+err.Error())
			continue
		}
		if caveat != "" {
			rep.Add(discovery.ProblemKey{Service: name}, discovery.ReasonCaveat, caveat)
		}
		if cfg.LB == labels.LBLocal && opts.NodeID == "" && opts.PublishHost == "" {
			rep.Add(discovery.ProblemKey{Service: name}, discovery.ReasonCaveat,
				"lb local: the gateway does not know its node (set NODE_ID in its environment, or the node_id option), so every replica is used")
		}
		for _, rc := range cfg.Routes {
			var reps []routing.Replica
			reason := discovery.ReasonUpstreams
			if opts.PublishHost != "" {
				reps, err = publishedReplicas(svc, tasks, opts.PublishHost, rc.Port)
				reason = discovery.ReasonNetwork
			} else {
				reps, err = replicas(svc, cfg.LB, tasks, netID, rc.Port)
			}
			if err != nil {
				rep.Add(discovery.ProblemKey{Service: name, Route: rc.Name}, reason, discovery.NotRouted(rc.Name)+err.Error())
				continue
			}
			ups := discovery.ReplicaAddrs(reps)
			var local []string
			if cfg.LB == labels.LBLocal {
				local = nodeAddrs(reps, opts.NodeID)
			}
			hosts := rc.Hosts
			if len(hosts) == 0 {
				hosts = []string{""} // any host
			}
			side := routing.Side{Service: name, Name: rc.Name, Strip: rc.Strip, Policy: rc.Policy, Weight: rc.Weight, Upstreams: ups, Replicas: reps, Local: local}
			scaled.onto(&side)
			for _, host := range hosts {
				if msg := discovery.Claim(t, host, rc.Prefix, side, rc.Weighted); msg != "" {
					rep.Add(discovery.ProblemKey{Service: name, Route: rc.Name}, discovery.ReasonClaimed, discovery.NotRouted(rc.Name)+msg)
				}
			}
		}
	}
	return t, rep
}

// replicas returns what serves a route: the service's running tasks on
// network netID, or its virtual IP there.
func replicas(svc *swarm.Service, lb string, tasks []*swarm.Task, netID string, port uint16) ([]routing.Replica, error) {
	if lb != labels.LBVIP {
		return taskReplicas(svc, tasks, netID, port), nil
	}
	vip, err := serviceVIP(svc, netID)
	if err != nil {
		return nil, err
	}
	return []routing.Replica{{Addr: netip.AddrPortFrom(vip, port).String(), Task: svc.Spec.Name + " (vip)"}}, nil
}

// publishedReplicas returns what serves a route of a service of an engine
// that is not the gateway's own: the port the service publishes for its
// port (either mode: ingress, through the swarm's routing mesh; host, on
// the task of the engine's node), at host, as one upstream while a task
// runs; none while none does.
func publishedReplicas(svc *swarm.Service, tasks []*swarm.Task, host string, port uint16) ([]routing.Replica, error) {
	var pub uint32
	for _, p := range svc.Endpoint.Ports {
		if p.TargetPort == uint32(port) && p.PublishedPort != 0 && (p.Protocol == "" || p.Protocol == swarm.PortConfigProtocolTCP) {
			pub = p.PublishedPort
			break
		}
	}
	if pub == 0 {
		return nil, fmt.Errorf("the service publishes no port for its port %d, and its engine is reached at %s on published ports only (publish it: docker service update --publish-add %d)", port, host, port)
	}
	for _, t := range tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			addr := net.JoinHostPort(host, strconv.FormatUint(uint64(pub), 10))
			return []routing.Replica{{Addr: addr, Task: svc.Spec.Name + " (published)", Running: t.Status.Timestamp}}, nil
		}
	}
	return nil, nil
}

// taskReplicas returns the tasks, with their dial addresses on network
// netID, that are running and meant to stay running, sorted by address. A
// task whose desired state has left "running" is being stopped and gets
// no new request; one that has not reached "running" (and so not passed
// its health check) is not ready for any.
func taskReplicas(svc *swarm.Service, tasks []*swarm.Task, netID string, port uint16) []routing.Replica {
	out := make([]routing.Replica, 0, len(tasks))
	for _, t := range tasks {
		if t.DesiredState != swarm.TaskStateRunning || t.Status.State != swarm.TaskStateRunning {
			continue
		}
		for _, att := range t.NetworksAttachments {
			if att.Network.ID != netID || len(att.Addresses) == 0 {
				continue
			}
			pfx, err := netip.ParsePrefix(att.Addresses[0])
			if err != nil {
				continue
			}
			out = append(out, routing.Replica{
				Addr:    netip.AddrPortFrom(pfx.Addr(), port).String(),
				TaskID:  t.ID,
				Task:    taskName(svc, t),
				NodeID:  t.NodeID,
				Running: t.Status.Timestamp,
			})
		}
	}
	slices.SortFunc(out, func(a, b routing.Replica) int { return cmp.Compare(a.Addr, b.Addr) })
	return slices.CompactFunc(out, func(a, b routing.Replica) bool { return a.Addr == b.Addr })
}

// taskName names a task as docker service ps does: the service name and
// the task's slot, or its node for a global service.
func taskName(svc *swarm.Service, t *swarm.Task) string {
	if t.Slot == 0 {
		return svc.Spec.Name + "." + t.NodeID
	}
	return fmt.Sprintf("%s.%d", svc.Spec.Name, t.Slot)
}

// nodeAddrs returns the dial addresses of the replicas of reps on node, in
// their order; nil if none runs there or node is unknown ("").
func nodeAddrs(reps []routing.Replica, node string) []string {
	if node == "" {
		return nil
	}
	var addrs []string
	for _, r := range reps {
		if r.NodeID == node {
			addrs = append(addrs, r.Addr)
		}
	}
	return addrs
}

// serviceVIP returns the service's virtual IP on network netID.
func serviceVIP(svc *swarm.Service, netID string) (netip.Addr, error) {
	for _, v := range svc.Endpoint.VirtualIPs {
		if v.NetworkID != netID {
			continue
		}
		pfx, err := netip.ParsePrefix(v.Addr)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("parsing virtual IP %q: %w", v.Addr, err)
		}
		return pfx.Addr(), nil
	}
	mode := swarm.ResolutionModeVIP
	if svc.Spec.EndpointSpec != nil {
		mode = svc.Spec.EndpointSpec.Mode
	}
	return netip.Addr{}, fmt.Errorf("lb=vip but the service has no virtual IP on its network (endpoint mode %q)", mode)
}

// isConverging reports whether a service is still changing: an update in
// progress, fewer or more running tasks than desired, or a task between
// states. The watcher re-lists such a service every converge_interval.
func isConverging(svc *swarm.Service, tasks []*swarm.Task) bool {
	if u := svc.UpdateStatus; u != nil {
		switch u.State {
		case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
			return true
		}
	}
	if s := svc.ServiceStatus; s != nil && s.RunningTasks != s.DesiredTasks {
		return true
	}
	if m := svc.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
		running := 0
		for _, t := range tasks {
			if t.Status.State == swarm.TaskStateRunning {
				running++
			}
		}
		if uint64(running) != *m.Replicas {
			return true
		}
	}
	for _, t := range tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State != swarm.TaskStateRunning {
			return true
		}
	}
	return false
}

// isStarting reports whether a service wants a replica and has none
// running: its first one is on its way.
func isStarting(svc *swarm.Service, tasks []*swarm.Task) bool {
	if wantsNoReplica(svc) {
		return false
	}
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning {
			return false
		}
	}
	return true
}

// scaled is what a side of a scaled service carries.
type scaled struct {
	id               string
	spec             *scaling.Spec // nil: not scaled
	desired, running uint64
}

// scaledOf reads a service's scaling labels and counts. A service with
// malformed ones is routed, not scaled, and the report says why.
func scaledOf(svc *swarm.Service, tasks []*swarm.Task, prefix string, rep discovery.Report) scaled {
	sc := scaled{id: svc.ID}
	spec, on, err := labels.ParseScaling(svc.Spec.Labels, prefix)
	switch {
	case err != nil:
		rep.Add(discovery.ProblemKey{Service: svc.Spec.Name}, discovery.ReasonCaveat, "service not scaled: "+err.Error())
	case on && svc.Spec.Mode.Replicated == nil:
		rep.Add(discovery.ProblemKey{Service: svc.Spec.Name}, discovery.ReasonCaveat, "service not scaled: its scaling labels need a replicated service")
	case on:
		sc.spec = &spec
	}
	if m := svc.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
		sc.desired = *m.Replicas
	}
	for _, t := range tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			sc.running++
		}
	}
	return sc
}

// onto sets the scaling fields of side.
func (sc scaled) onto(side *routing.Side) {
	side.ServiceID, side.Scaling, side.Desired, side.Running = sc.id, sc.spec, sc.desired, sc.running
}

// wantsNoReplica reports whether a replicated service is scaled to zero.
func wantsNoReplica(svc *swarm.Service) bool {
	m := svc.Spec.Mode.Replicated
	return m != nil && m.Replicas != nil && *m.Replicas == 0
}

// withServices returns a copy of st in which the services of the given IDs
// and their tasks are replaced by services and tasks (a service not among
// services is gone): how a re-list of some services updates the last full
// listing.
func (st State) withServices(ids []string, services []swarm.Service, tasks []swarm.Task) State {
	out := st.withTasksOf(ids, tasks)
	out.Services = replaced(st.Services, services, idSet(ids), func(s swarm.Service) string { return s.ID })
	return out
}

// withTasksOf returns a copy of st in which the tasks of the given services
// are replaced by tasks: how a re-list of some services' tasks updates the
// last full listing.
func (st State) withTasksOf(serviceIDs []string, tasks []swarm.Task) State {
	out := st
	out.Tasks = replaced(st.Tasks, tasks, idSet(serviceIDs), func(t swarm.Task) string { return t.ServiceID })
	return out
}

// replaced returns old without the items whose id is in set, followed by
// the items of fresh whose id is.
func replaced[T any](old, fresh []T, set map[string]bool, id func(T) string) []T {
	out := make([]T, 0, len(old)+len(fresh))
	for _, x := range old {
		if !set[id(x)] {
			out = append(out, x)
		}
	}
	for _, x := range fresh {
		if set[id(x)] {
			out = append(out, x)
		}
	}
	return out
}

func idSet(ids []string) map[string]bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}
