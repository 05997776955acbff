package containersource

// This file turns one listing of an engine's containers (and its
// networks) into a route table, and reports beside it what the watcher
// needs to know but requests do not: why some containers are not routed.

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// State is one listing of the engine, as its loop keeps it current.
type State struct {
	// Containers are the opted-in containers that run, or ran since the
	// last full listing: not those of swarm tasks.
	Containers []container.Summary
	// Leaving are the containers, by ID, that claim their routes but
	// serve none: they got their stop signal, or are gone (until a full
	// listing confirms it).
	Leaving map[string]bool
	// Started are the times the start events of containers gave, by ID:
	// when they began to run, for the join latency.
	Started  map[string]time.Time
	Networks []network.Summary
	// LocalAddrs are the gateway's own IP addresses; a network in whose
	// subnet one of them lies is a network the gateway is attached to.
	LocalAddrs []netip.Addr
}

// group is the containers that serve as one: the containers of one
// compose service (`docker compose up --scale`), or one container.
type group struct {
	// name names the group in the routes and logs: the compose project
	// and service ("shop-web"), else the container's name.
	name string
	// prefixName is the name of the default prefix: the compose service,
	// else the container's name.
	prefixName string
	// namespace is the compose project, whose networks are named
	// `<project>_<network>`.
	namespace  string
	containers []*container.Summary // oldest first
}

// Build turns a listing into a route table and a report, by opts' label
// prefix and preferred network. It is a pure function: everything it
// needs is in its arguments.
func Build(st State, opts Options) (*routing.Table, discovery.Report) {
	nets := indexNetworks(st.Networks, st.LocalAddrs)
	t := routing.NewTable()
	rep := discovery.NewReport()
	for _, g := range groups(st.Containers) {
		b := groupBuild{g: g, st: &st, opts: opts, nets: nets, rep: rep}
		for _, c := range g.containers {
			b.add(c)
		}
		b.claim(t)
	}
	return t, rep
}

// groups returns the containers by group, the group of the oldest
// container first: the oldest claim on a host and prefix wins.
func groups(cs []container.Summary) []*group {
	sorted := make([]*container.Summary, len(cs))
	for i := range cs {
		sorted[i] = &cs[i]
	}
	slices.SortFunc(sorted, func(a, b *container.Summary) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	byName := make(map[string]*group)
	var out []*group
	for _, c := range sorted {
		g := groupOf(c)
		if have := byName[g.name]; have != nil {
			g = have
		} else {
			byName[g.name] = g
			out = append(out, g)
		}
		g.containers = append(g.containers, c)
	}
	return out
}

// groupOf returns the (empty) group a container belongs to.
func groupOf(c *container.Summary) *group {
	project, svc := c.Labels[composeProjectLabel], c.Labels[composeServiceLabel]
	if svc != "" {
		name := svc
		if project != "" {
			name = project + "-" + svc
		}
		return &group{name: name, prefixName: svc, namespace: project}
	}
	name := containerName(c)
	return &group{name: name, prefixName: name}
}

// containerName is a container's name, without its leading slash.
func containerName(c *container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID
}

// serving reports whether a running container takes requests: not if it
// is leaving, nor while its health check has not passed (the listing's
// status says "(health: starting)" or "(unhealthy)").
func serving(c *container.Summary, leaving map[string]bool) bool {
	return c.State == container.StateRunning && !leaving[c.ID] &&
		!strings.Contains(c.Status, "(health: starting)") && !strings.Contains(c.Status, "(unhealthy)")
}

// groupBuild collects the routes of one group's containers.
type groupBuild struct {
	g    *group
	st   *State
	opts Options
	nets networkIndex
	rep  discovery.Report

	routes []*pendingRoute // in the order the oldest container declares them
}

// pendingRoute is a route of a group and the replicas found for it.
type pendingRoute struct {
	rc       labels.RouteConfig
	replicas []routing.Replica
}

// add adds a container's routes, and itself as their replica if it
// serves.
func (b *groupBuild) add(c *container.Summary) {
	name := b.g.name
	problem := func(route, reason, msg string) {
		b.rep.Add(discovery.ProblemKey{Service: name, Route: route}, reason, msg)
	}
	cfg, err := labels.Parse(c.Labels, b.opts.LabelPrefix, b.g.prefixName, labels.LBTasks)
	if err != nil {
		problem("", discovery.ReasonLabels, "container "+containerName(c)+" not routed: "+err.Error())
		return
	}
	if !cfg.Enabled {
		return
	}
	for _, d := range cfg.Disabled {
		problem(d.Route, discovery.ReasonLabels, discovery.NotRouted(d.Route)+d.Err.Error())
	}
	for _, d := range cfg.Warnings {
		problem(d.Route, discovery.ReasonCaveat, d.Err.Error())
	}
	if cfg.LB != labels.LBTasks {
		problem("", discovery.ReasonCaveat, "lb "+cfg.LB+" is for swarm services: each container is one upstream")
	}
	serves := serving(c, b.st.Leaving)
	// dial is the address of the container's port, "" when it serves
	// none.
	dial := func(port uint16) string { return "" }
	switch {
	case serves && b.opts.PublishHost != "":
		dial = func(port uint16) string { return published(c, b.opts.PublishHost, port) }
	case serves:
		a, caveat, err := b.nets.address(c, b.g.namespace, cfg.Network, b.opts.Network)
		if err != nil {
			// Not routed, and no claim either: its routes are not its
			// group's to hold.
			problem("", discovery.ReasonNetwork, "container "+containerName(c)+" not routed: "+err.Error())
			return
		}
		if caveat != "" {
			problem("", discovery.ReasonCaveat, caveat)
		}
		dial = func(port uint16) string { return netip.AddrPortFrom(a, port).String() }
	}
	for _, rc := range cfg.Routes {
		addr := dial(rc.Port)
		if serves && addr == "" {
			// Not published: not routed, and no claim.
			problem(rc.Name, discovery.ReasonNetwork, discovery.NotRouted(rc.Name)+fmt.Sprintf(
				"container %s publishes no port for its port %d, and its engine is reached at %s on published ports only (publish it: docker run -p %d, compose ports: [\"%d\"])",
				containerName(c), rc.Port, b.opts.PublishHost, rc.Port, rc.Port))
			continue
		}
		p := b.route(rc)
		if addr != "" {
			p.replicas = append(p.replicas, routing.Replica{
				Addr:    addr,
				TaskID:  c.ID,
				Task:    containerName(c),
				Running: b.st.Started[c.ID],
			})
		}
	}
}

// published returns the address at host of the port the container
// publishes for its port (TCP, not on a loopback address only), "" if it
// publishes none.
func published(c *container.Summary, host string, port uint16) string {
	for _, p := range c.Ports {
		ip, err := netip.ParseAddr(p.IP)
		loopback := err == nil && ip.IsLoopback()
		if p.PrivatePort == port && p.PublicPort != 0 && (p.Type == "" || p.Type == "tcp") && !loopback {
			return net.JoinHostPort(host, strconv.Itoa(int(p.PublicPort)))
		}
	}
	return ""
}

// route returns the group's pending route that rc declares (the same
// name, hosts and prefix), adding it if it is new.
func (b *groupBuild) route(rc labels.RouteConfig) *pendingRoute {
	for _, p := range b.routes {
		if p.rc.Name == rc.Name && p.rc.Prefix == rc.Prefix && slices.Equal(p.rc.Hosts, rc.Hosts) {
			return p
		}
	}
	p := &pendingRoute{rc: rc}
	b.routes = append(b.routes, p)
	return p
}

// claim puts the group's routes in t, and records the group in the
// report.
func (b *groupBuild) claim(t *routing.Table) {
	if len(b.routes) == 0 {
		return
	}
	b.rep.Services[b.g.name] = discovery.ServiceStatus{ID: b.g.name, Created: time.Unix(b.g.containers[0].Created, 0).UTC()}
	for _, p := range b.routes {
		rc := p.rc
		slices.SortFunc(p.replicas, func(a, b routing.Replica) int { return cmp.Compare(a.Addr, b.Addr) })
		reps := slices.CompactFunc(p.replicas, func(a, b routing.Replica) bool { return a.Addr == b.Addr })
		side := routing.Side{Service: b.g.name, Name: rc.Name, Strip: rc.Strip, Policy: rc.Policy, Weight: rc.Weight,
			Upstreams: discovery.ReplicaAddrs(reps), Replicas: reps}
		hosts := rc.Hosts
		if len(hosts) == 0 {
			hosts = []string{""} // any host
		}
		for _, host := range hosts {
			if msg := discovery.Claim(t, host, rc.Prefix, side, rc.Weighted); msg != "" {
				b.rep.Add(discovery.ProblemKey{Service: b.g.name, Route: rc.Name}, discovery.ReasonClaimed, discovery.NotRouted(rc.Name)+msg)
			}
		}
	}
}
