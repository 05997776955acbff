package caddymodule

import (
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// route is one service's claim on a path prefix, with the addresses of the
// replicas that serve it. Routes are immutable once built.
type route struct {
	Prefix    string
	Service   string // service name
	ServiceID string
	Strip     bool
	// Upstreams are dial addresses (host:port), sorted, one per running task
	// (or the service's virtual IP in vip mode).
	Upstreams []string
	created   time.Time
}

// routeTable maps path prefixes to routes. It is immutable: the watcher
// builds a new one on every change and swaps it in whole.
type routeTable struct {
	byPrefix map[string]*route
	// depth is the most segments any prefix has: a path's segments past
	// it cannot be part of a match, so lookups start there.
	depth int
	// converging lists the services that are scaling, updating or have tasks
	// starting or stopping, so the watcher knows to re-list them soon.
	converging []string
	// problems holds, per service name, why that service is not routed (or
	// is routed with a caveat). The watcher logs each once when it appears.
	problems map[string]string
}

// emptyTable is what the gateway routes with before the first listing.
var emptyTable = &routeTable{byPrefix: map[string]*route{}, problems: map[string]string{}}

// match returns the route with the longest prefix that covers p on whole
// segments, or nil. p must be a cleaned path without a trailing slash
// (see cleanPath). It costs at most one map lookup per segment of the
// deepest prefix, whatever the number of routes, and does not allocate.
func (t *routeTable) match(p string) *route {
	p = firstSegments(p, t.depth)
	for {
		if r, ok := t.byPrefix[p]; ok {
			return r
		}
		if p == "/" || p == "" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// firstSegments cuts p after its first n segments ("/a/b/c", 2: "/a/b").
func firstSegments(p string, n int) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			if n--; n <= 0 {
				return p[:i]
			}
		}
	}
	return p
}

// segments counts a prefix's segments ("/" has none, "/a/b" two).
func segments(prefix string) int {
	if prefix == "/" {
		return 0
	}
	return strings.Count(prefix, "/")
}

// cleanPath returns the cleaned form of a request path, the form that is
// matched and forwarded, and keeps a trailing slash the client sent (so
// "/a/b/" stays a directory). "..", "." and repeated slashes are resolved
// before matching, so "/multiply/../other" is matched as "/other".
// It does not allocate when p is already clean.
func cleanPath(p string) (cleaned string) {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && p[len(p)-1] == '/' {
		if len(c)+1 == len(p) && p[:len(c)] == c {
			return p // already clean, with its trailing slash
		}
		return c + "/"
	}
	return c
}

// matchKey drops the trailing slash cleanPath may have kept.
func matchKey(cleaned string) string {
	if len(cleaned) > 1 && cleaned[len(cleaned)-1] == '/' {
		return cleaned[:len(cleaned)-1]
	}
	return cleaned
}

// stripPrefix removes prefix from the cleaned path p on a segment boundary.
func stripPrefix(p, prefix string) string {
	if prefix == "/" {
		return p
	}
	rest := p[len(prefix):]
	if rest == "" {
		return "/"
	}
	return rest
}

// tableOptions are the module options that shape the route table.
type tableOptions struct {
	LabelPrefix string
	Network     string // default network name, empty for automatic choice
	LB          string // default load-balancing mode
}

// swarmState is one consistent listing of the Docker API.
type swarmState struct {
	Services []swarm.Service
	Tasks    []swarm.Task
	Networks []network.Summary
	// LocalAddrs are the gateway's own IP addresses; a network in whose
	// subnet one of them lies is a network the gateway is attached to.
	LocalAddrs []netip.Addr
}

// buildTable turns a listing into a route table. It is a pure function:
// everything it needs is in its arguments.
func buildTable(st swarmState, opts tableOptions) *routeTable {
	nets := indexNetworks(st.Networks, st.LocalAddrs)
	tasksBySvc := make(map[string][]*swarm.Task)
	for i := range st.Tasks {
		t := &st.Tasks[i]
		tasksBySvc[t.ServiceID] = append(tasksBySvc[t.ServiceID], t)
	}

	t := &routeTable{byPrefix: make(map[string]*route), problems: make(map[string]string)}
	// Oldest service first, so that the oldest claim on a prefix wins.
	services := slices.Clone(st.Services)
	slices.SortFunc(services, func(a, b swarm.Service) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for i := range services {
		svc := &services[i]
		name := svc.Spec.Name
		cfg, err := parseLabels(svc.Spec.Labels, opts.LabelPrefix, name, opts.LB)
		if err != nil {
			t.problems[name] = "service not routed: " + err.Error()
			continue
		}
		if !cfg.Enabled {
			continue
		}
		if isConverging(svc, tasksBySvc[svc.ID]) {
			t.converging = append(t.converging, name)
		}
		// A service the gateway cannot reach claims nothing, so gateways on
		// separate networks (another stack, a test) do not conflict.
		netName := cmp.Or(cfg.Network, opts.Network)
		netID, caveat, err := nets.choose(svc, netName)
		if err != nil {
			t.problems[name] = "service not routed: " + err.Error()
			continue
		}
		if owner, taken := t.byPrefix[cfg.Prefix]; taken {
			t.problems[name] = fmt.Sprintf("service not routed: prefix %s is already claimed by older service %s", cfg.Prefix, owner.Service)
			continue
		}
		if caveat != "" {
			t.problems[name] = caveat
		}
		r := &route{
			Prefix:    cfg.Prefix,
			Service:   name,
			ServiceID: svc.ID,
			Strip:     cfg.Strip,
			created:   svc.CreatedAt,
		}
		port := uint16(cfg.Port)
		if cfg.LB == lbVIP {
			vip, err := serviceVIP(svc, netID)
			if err != nil {
				t.problems[name] = "service not routed: " + err.Error()
				continue
			}
			r.Upstreams = []string{netip.AddrPortFrom(vip, port).String()}
		} else {
			r.Upstreams = taskAddrs(tasksBySvc[svc.ID], netID, port)
		}
		t.byPrefix[cfg.Prefix] = r
		t.depth = max(t.depth, segments(cfg.Prefix))
	}
	return t
}

// taskAddrs returns the sorted dial addresses, on network netID, of the
// tasks that are running and meant to stay running. A task whose desired
// state has left "running" is being stopped and gets no new request; one
// that has not reached "running" (and so not passed its health check) is
// not ready for any.
func taskAddrs(tasks []*swarm.Task, netID string, port uint16) []string {
	addrs := make([]string, 0, len(tasks))
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
			addrs = append(addrs, netip.AddrPortFrom(pfx.Addr(), port).String())
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
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
		ni := netInfo{ID: n.ID, Name: n.Name, Ingress: n.Ingress || n.Name == "ingress"}
		for _, c := range n.IPAM.Config {
			pfx, err := netip.ParsePrefix(c.Subnet)
			if err != nil {
				continue
			}
			for _, a := range local {
				if pfx.Contains(a) {
					ni.Shared = true
				}
			}
		}
		idx.byID[n.ID] = ni
		idx.gatewayInSwarm = idx.gatewayInSwarm || (ni.Shared && !ni.Ingress)
	}
	return idx
}

// choose picks the network a service is reached on. want, when set, names
// the network (its full name, its name within the service's stack, or its
// ID). Otherwise the one network the service shares with the gateway is
// used; if it shares several, the first by name is used and a caveat says
// to set the network label. If the gateway is attached to no network known
// here (it runs outside the swarm, as in development), the service's only
// network, or its first by name, is used.
func (idx networkIndex) choose(svc *swarm.Service, want string) (id, caveat string, err error) {
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
	if len(attached) == 0 {
		return "", "", fmt.Errorf("it is attached to no network the gateway can reach (only ingress or none)")
	}
	if want != "" {
		ns := svc.Spec.Labels[stackNamespaceLabel]
		for _, n := range attached {
			if n.Name == want || n.ID == want || (ns != "" && n.Name == ns+"_"+want) {
				return n.ID, "", nil
			}
		}
		return "", "", fmt.Errorf("network %q is not one of the service's networks (%s)", want, names(attached))
	}
	var shared []netInfo
	for _, n := range attached {
		if n.Shared {
			shared = append(shared, n)
		}
	}
	switch {
	case len(shared) == 1:
		return shared[0].ID, "", nil
	case len(shared) > 1:
		return shared[0].ID, fmt.Sprintf("service shares several networks with the gateway (%s); using %s, set the network label to choose", names(shared), shared[0].Name), nil
	case idx.gatewayInSwarm:
		return "", "", fmt.Errorf("it shares no network with the gateway (its networks: %s)", names(attached))
	default:
		return attached[0].ID, "", nil
	}
}

func names(ns []netInfo) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return strings.Join(s, ", ")
}
