package swarmsource

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

func TestBuildTable(t *testing.T) {
	nets := []network.Summary{
		fake.Network(fake.NetID, "faas_net", "10.0.1.0/24"),
		fake.Network("net2", "faas_other", "10.0.2.0/24"),
		fake.Network("ingress", "ingress", "10.0.0.0/24"),
		fake.Network("bridge1", "proj_default", "172.20.0.0/16"), // a compose project's
	}
	gateway := []netip.Addr{netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("10.0.2.2")}
	running, starting, stopping := swarm.TaskStateRunning, swarm.TaskStateStarting, swarm.TaskStateShutdown

	tests := []struct {
		name         string
		services     []swarm.Service
		tasks        []swarm.Task
		local        []netip.Addr
		network      string              // the module's network option
		want         map[string][]string // host+prefix -> upstreams
		wantProblems map[string]string   // service, or service/route -> substring
		converging   []string
	}{
		{
			name:     "running tasks only, sorted",
			services: []swarm.Service{fake.Service("faas_multiply", fake.Enabled(), fake.ServiceLabels(labels.StackNamespace, "faas"), fake.ServiceReplicas(3))},
			tasks: []swarm.Task{
				fake.Task("faas_multiply", "10.0.1.12"),
				fake.Task("faas_multiply", "10.0.1.10"),
				fake.Task("faas_multiply", "10.0.1.11", fake.TaskState(running, starting)),
				fake.Task("faas_multiply", "10.0.1.13", fake.TaskState(stopping, running)),
				fake.Task("other", "10.0.1.99"),
			},
			local:      gateway[:1],
			want:       map[string][]string{"/multiply": {"10.0.1.10:8080", "10.0.1.12:8080"}},
			converging: []string{"faas_multiply"},
		},
		{
			name:     "not enabled: absent, no problem",
			services: []swarm.Service{fake.Service("web", fake.ServiceLabels("faas.enable", "false"))},
			tasks:    []swarm.Task{fake.Task("web", "10.0.1.5")},
			local:    gateway[:1],
			want:     map[string][]string{},
		},
		{
			name: "bad label disables only that service",
			services: []swarm.Service{
				fake.Service("good", fake.Enabled()),
				fake.Service("bad", fake.Enabled("faas.port", "http")),
			},
			tasks:        []swarm.Task{fake.Task("good", "10.0.1.5"), fake.Task("bad", "10.0.1.6")},
			local:        gateway[:1],
			want:         map[string][]string{"/good": {"10.0.1.5:8080"}},
			wantProblems: map[string]string{"bad": `faas.port="http"`},
		},
		{
			name: "duplicate prefix: oldest wins, others warned",
			services: []swarm.Service{
				fake.Service("young", fake.Enabled("faas.path", "/multiply/"), fake.ServiceCreated(2)),
				fake.Service("old", fake.Enabled("faas.path", "/multiply"), fake.ServiceCreated(1)),
			},
			tasks:        []swarm.Task{fake.Task("young", "10.0.1.5"), fake.Task("old", "10.0.1.6")},
			local:        gateway[:1],
			want:         map[string][]string{"/multiply": {"10.0.1.6:8080"}},
			wantProblems: map[string]string{"young": "already claimed by older service old"},
		},
		{
			name:     "zero running tasks: route kept with no upstream",
			services: []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceReplicas(0))},
			local:    gateway[:1],
			want:     map[string][]string{"/s": {}},
		},
		{
			name:     "several shared networks: network label chooses",
			services: []swarm.Service{fake.Service("s", fake.Enabled("faas.network", "other"), fake.ServiceNetworks(fake.NetID, "net2"), fake.ServiceLabels(labels.StackNamespace, "faas"))},
			tasks:    []swarm.Task{fake.Task("s", "10.0.2.7", fake.TaskOnNetwork("net2"))},
			local:    gateway,
			want:     map[string][]string{"/s": {"10.0.2.7:8080"}},
		},
		{
			name:         "several shared networks without label: first by name, with a caveat",
			services:     []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceNetworks(fake.NetID, "net2"))},
			tasks:        []swarm.Task{fake.Task("s", "10.0.1.7")},
			local:        gateway,
			want:         map[string][]string{"/s": {"10.0.1.7:8080"}},
			wantProblems: map[string]string{"s": "set the network label"},
		},
		{
			name:         "network label naming a network the service lacks",
			services:     []swarm.Service{fake.Service("s", fake.Enabled("faas.network", "nope"), fake.ServiceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": `network "nope" of its network label is not one it shares`},
		},
		{
			name: "service on a network the gateway is not on: not routed, claims nothing",
			services: []swarm.Service{
				fake.Service("elsewhere", fake.Enabled("faas.path", "/m"), fake.ServiceNetworks("net2"), fake.ServiceCreated(0)),
				fake.Service("here", fake.Enabled("faas.path", "/m"), fake.ServiceCreated(1)),
			},
			tasks:        []swarm.Task{fake.Task("here", "10.0.1.8"), fake.Task("elsewhere", "10.0.2.8", fake.TaskOnNetwork("net2"))},
			local:        gateway[:1],
			want:         map[string][]string{"/m": {"10.0.1.8:8080"}},
			wantProblems: map[string]string{"elsewhere": "shares no network with the gateway"},
		},
		{
			// Issue 9, defect 2: the network label cannot pick a network the
			// gateway is not on, nor push a reachable service off its prefix.
			name: "network label naming a network the gateway is not on: not routed, claims nothing",
			services: []swarm.Service{
				fake.Service("elsewhere", fake.Enabled("faas.path", "/m", "faas.network", "faas_other"), fake.ServiceNetworks(fake.NetID, "net2"), fake.ServiceCreated(0)),
				fake.Service("here", fake.Enabled("faas.path", "/m"), fake.ServiceCreated(1)),
			},
			tasks:        []swarm.Task{fake.Task("here", "10.0.1.8"), fake.Task("elsewhere", "10.0.2.8", fake.TaskOnNetwork("net2"))},
			local:        gateway[:1],
			want:         map[string][]string{"/m": {"10.0.1.8:8080"}},
			wantProblems: map[string]string{"elsewhere": `network "faas_other" of its network label is not one it shares with the gateway (it shares: faas_net)`},
		},
		{
			// Issue 9, defect 6: the network option is a preference.
			name:     "network option naming a network the service is not on: its shared one",
			services: []swarm.Service{fake.Service("s", fake.Enabled())},
			tasks:    []swarm.Task{fake.Task("s", "10.0.1.9")},
			local:    gateway,
			network:  "faas_other",
			want:     map[string][]string{"/s": {"10.0.1.9:8080"}},
		},
		{
			name:     "network option choosing among shared networks",
			services: []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceNetworks(fake.NetID, "net2"))},
			tasks:    []swarm.Task{fake.Task("s", "10.0.2.9", fake.TaskOnNetwork("net2"))},
			local:    gateway,
			network:  "faas_other",
			want:     map[string][]string{"/s": {"10.0.2.9:8080"}},
		},
		{
			name: "hosts: the oldest claim on a host and prefix wins, other prefixes coexist",
			services: []swarm.Service{
				fake.Service("a", fake.Enabled("faas.host", "x.test"), fake.ServiceCreated(0)),
				fake.Service("b", fake.Enabled("faas.host", "x.test", "faas.path", "/b"), fake.ServiceCreated(1)),
				fake.Service("c", fake.Enabled("faas.host", "X.test."), fake.ServiceCreated(2)),
				fake.Service("d", fake.Enabled("faas.path", "/"), fake.ServiceCreated(3)),
			},
			tasks: []swarm.Task{fake.Task("a", "10.0.1.1"), fake.Task("b", "10.0.1.2"), fake.Task("c", "10.0.1.3"), fake.Task("d", "10.0.1.4")},
			local: gateway[:1],
			want: map[string][]string{
				"x.test/": {"10.0.1.1:8080"}, "x.test/b": {"10.0.1.2:8080"}, "/": {"10.0.1.4:8080"},
			},
			wantProblems: map[string]string{"c": "service not routed: prefix / on host x.test is already claimed by older service a"},
		},
		{
			name: "named routes: each with its own host, path and port; a bad one alone is not routed",
			services: []swarm.Service{fake.Service("s",
				fake.Enabled("faas.routes.api.path", "/api", "faas.routes.admin.host", "admin.test", "faas.routes.admin.port", "9000",
					"faas.routes.bad.host", "a_b.test"),
			)},
			tasks: []swarm.Task{fake.Task("s", "10.0.1.5")},
			local: gateway[:1],
			want: map[string][]string{
				"/api": {"10.0.1.5:8080"}, "admin.test/": {"10.0.1.5:9000"},
			},
			wantProblems: map[string]string{"s/bad": `route bad not routed: label faas.routes.bad.host="a_b.test"`},
		},
		{
			name: "named routes of two services conflict by name",
			services: []swarm.Service{
				fake.Service("old", fake.Enabled("faas.routes.web.host", "w.test"), fake.ServiceCreated(0)),
				fake.Service("new", fake.Enabled("faas.routes.site.host", "w.test"), fake.ServiceCreated(1)),
			},
			tasks:        []swarm.Task{fake.Task("old", "10.0.1.6"), fake.Task("new", "10.0.1.7")},
			local:        gateway[:1],
			want:         map[string][]string{"w.test/": {"10.0.1.6:8080"}},
			wantProblems: map[string]string{"new/site": "route site not routed: prefix / on host w.test is already claimed by route web of older service old"},
		},
		{
			name:         "ingress only",
			services:     []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceNetworks("ingress"), fake.ServiceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": "no network the gateway can reach"},
		},
		{
			name:     "gateway outside the swarm: the service's network",
			services: []swarm.Service{fake.Service("s", fake.Enabled())},
			tasks:    []swarm.Task{fake.Task("s", "10.0.1.9")},
			local:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
			want:     map[string][]string{"/s": {"10.0.1.9:8080"}},
		},
		{
			name:         "gateway on a compose network only: the swarm's services out of its reach",
			services:     []swarm.Service{fake.Service("s", fake.Enabled())},
			tasks:        []swarm.Task{fake.Task("s", "10.0.1.9")},
			local:        []netip.Addr{netip.MustParseAddr("172.20.0.2")},
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": "shares no network with the gateway"},
		},
		{
			name:     "vip mode from the label",
			services: []swarm.Service{fake.Service("s", fake.Enabled("faas.lb", "vip"), fake.ServiceVIPs("ingress", "10.0.0.4/24"), fake.ServiceVIPs(fake.NetID, "10.0.1.4/24"), fake.ServiceReplicas(2))},
			tasks:    []swarm.Task{fake.Task("s", "10.0.1.9"), fake.Task("s", "10.0.1.10")},
			local:    gateway[:1],
			want:     map[string][]string{"/s": {"10.0.1.4:8080"}},
		},
		{
			name:         "vip mode without a vip (dnsrr)",
			services:     []swarm.Service{fake.Service("s", fake.Enabled("faas.lb", "vip"), fake.ServiceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": "no virtual IP"},
		},
		{
			name:       "update in progress converges",
			services:   []swarm.Service{fake.Service("s", fake.Enabled(), fake.ServiceUpdating())},
			tasks:      []swarm.Task{fake.Task("s", "10.0.1.9")},
			local:      gateway[:1],
			want:       map[string][]string{"/s": {"10.0.1.9:8080"}},
			converging: []string{"s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, rep := Build(State{Services: tt.services, Tasks: tt.tasks, Networks: nets, LocalAddrs: tt.local},
				Options{LabelPrefix: "faas", LB: labels.LBTasks, Network: tt.network})
			got := map[string][]string{}
			table.Each(func(r *routing.Route) { got[r.Host+r.Prefix] = r.Pick().Upstreams })
			if len(got) != len(tt.want) {
				t.Fatalf("routes = %v, want %v (problems %v)", got, tt.want, rep.Problems)
			}
			for p, ups := range tt.want {
				if !slices.Equal(got[p], ups) {
					t.Errorf("route %s = %v, want %v", p, got[p], ups)
				}
			}
			fake.CheckProblems(t, rep, tt.wantProblems)
			if got := convergingNames(rep); !slices.Equal(got, tt.converging) {
				t.Errorf("converging = %v, want %v", got, tt.converging)
			}
		})
	}
}

// checkProblems checks that rep has exactly the problems of want, by
// service or service/route, each with a message containing want's
// substring.

// TestBuildWeights: the rules for claims on one host and prefix, as
// docs/traffic.md's table has them. The oldest claim owns the route:
// unweighted, it keeps it alone; weighted, every weighted claim shares it
// and the unweighted ones lose. A bad weight is a caveat, and its claim
// is unweighted.
func TestBuildWeights(t *testing.T) {
	nets := []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")}
	svc := func(name string, age int, kv ...string) swarm.Service {
		return fake.Service(name, fake.Enabled(append([]string{"faas.path", "/app"}, kv...)...), fake.ServiceCreated(time.Duration(age)))
	}
	tests := []struct {
		name         string
		services     []swarm.Service
		wantWeighted bool
		want         []string          // the sides of /app, oldest first: service:weight, or service alone
		wantProblems map[string]string // service, or service/route -> substring
	}{
		{name: "unweighted: the older alone",
			services:     []swarm.Service{svc("blue", 1), svc("green", 2)},
			want:         []string{"blue"},
			wantProblems: map[string]string{"green": "already claimed by older service blue"}},
		{name: "weighted: shared, in the order of age",
			services:     []swarm.Service{svc("green", 2, "faas.weight", "10"), svc("blue", 1, "faas.weight", "90")},
			wantWeighted: true, want: []string{"blue:90", "green:10"}},
		{name: "weight 0 keeps its side",
			services:     []swarm.Service{svc("blue", 1, "faas.weight", "0"), svc("green", 2, "faas.weight", "100")},
			wantWeighted: true, want: []string{"blue:0", "green:100"}},
		{name: "one weighted claim: a weighted route of one side",
			services:     []swarm.Service{svc("blue", 1, "faas.weight", "0")},
			wantWeighted: true, want: []string{"blue:0"}},
		{name: "the older unweighted: it keeps the route, the weighted lose",
			services:     []swarm.Service{svc("blue", 1), svc("green", 2, "faas.weight", "10"), svc("canary", 3, "faas.weight", "5")},
			want:         []string{"blue"},
			wantProblems: map[string]string{"green": "older service blue, which has no weight", "canary": "which has no weight"}},
		{name: "the older weighted: the weighted share, the unweighted lose",
			services:     []swarm.Service{svc("blue", 1, "faas.weight", "90"), svc("stray", 2), svc("green", 3, "faas.weight", "10")},
			wantWeighted: true, want: []string{"blue:90", "green:10"},
			wantProblems: map[string]string{"stray": "whose weighted claims share it"}},
		{name: "a bad weight on the younger: a caveat, and it loses as unweighted",
			services:     []swarm.Service{svc("blue", 1, "faas.weight", "90"), svc("green", 2, "faas.weight", "ten")},
			wantWeighted: true, want: []string{"blue:90"},
			wantProblems: map[string]string{"green": "whose weighted claims share it"}},
		{name: "a bad weight on the older: it keeps the route alone",
			services:     []swarm.Service{svc("blue", 1, "faas.weight", "9O"), svc("green", 2, "faas.weight", "10")},
			want:         []string{"blue"},
			wantProblems: map[string]string{"blue": `label faas.weight="9O"`, "green": "which has no weight"}},
		{name: "named routes of one service share too",
			services:     []swarm.Service{svc("app", 1, "faas.routes.a.weight", "1", "faas.routes.b.weight", "3")},
			wantWeighted: true, want: []string{"app/a:1", "app/b:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tasks []swarm.Task
			for i, s := range tt.services {
				tasks = append(tasks, fake.Task(s.ID, fmt.Sprintf("10.0.1.%d", 10+i)))
			}
			table, rep := Build(State{Services: tt.services, Tasks: tasks, Networks: nets, LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.1.2")}},
				Options{LabelPrefix: "faas", LB: labels.LBTasks})
			r := table.Lookup("", "/app")
			if r == nil {
				t.Fatalf("/app not routed: %v", rep.Problems)
			}
			var got []string
			for _, s := range r.Sides {
				n := s.Service
				if s.Name != "" {
					n += "/" + s.Name
				}
				if r.Weighted {
					n += fmt.Sprintf(":%d", s.Weight)
				}
				if len(s.Upstreams) != 1 {
					t.Errorf("side %s has upstreams %v, want its one replica", n, s.Upstreams)
				}
				got = append(got, n)
			}
			if r.Weighted != tt.wantWeighted || !slices.Equal(got, tt.want) {
				t.Errorf("/app: weighted %v, sides %v; want %v, %v", r.Weighted, got, tt.wantWeighted, tt.want)
			}
			fake.CheckProblems(t, rep, tt.wantProblems)
		})
	}
}

// convergingNames lists the converging services of a report, sorted.
func convergingNames(rep discovery.Report) []string {
	var names []string
	for name, s := range rep.Services {
		if s.Converging {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestBuildLocal: with lb local, a side's requests go to its replicas on
// the gateway's node while one runs there, and to all of them otherwise;
// a gateway that does not know its node uses all, with a caveat.
func TestBuildLocal(t *testing.T) {
	nets := []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")}
	gateway := []netip.Addr{netip.MustParseAddr("10.0.1.2")}
	on := fake.TaskOnNode
	tasks := []swarm.Task{
		fake.Task("web", "10.0.1.10", on("n1")),
		fake.Task("web", "10.0.1.11", on("n2")),
		fake.Task("web", "10.0.1.12", on("n1")),
		fake.Task("plain", "10.0.1.20", on("n1")),
		fake.Task("plain", "10.0.1.21", on("n2")),
	}
	tests := []struct {
		name       string
		lb, node   string // the module's lb and node_id options
		webLabels  []string
		wantWeb    []string // web's targets
		wantPlain  []string // plain's targets
		wantCaveat bool
	}{
		{name: "by label, two replicas on this node", lb: labels.LBTasks, node: "n1", webLabels: []string{"faas.lb", "local"},
			wantWeb: []string{"10.0.1.10:8080", "10.0.1.12:8080"}, wantPlain: []string{"10.0.1.20:8080", "10.0.1.21:8080"}},
		{name: "by label, none on this node: all", lb: labels.LBTasks, node: "n3", webLabels: []string{"faas.lb", "local"},
			wantWeb: []string{"10.0.1.10:8080", "10.0.1.11:8080", "10.0.1.12:8080"}, wantPlain: []string{"10.0.1.20:8080", "10.0.1.21:8080"}},
		{name: "gateway-wide default, a label opts out", lb: labels.LBLocal, node: "n2", webLabels: []string{"faas.lb", "tasks"},
			wantWeb: []string{"10.0.1.10:8080", "10.0.1.11:8080", "10.0.1.12:8080"}, wantPlain: []string{"10.0.1.21:8080"}},
		{name: "node unknown: all, with a caveat", lb: labels.LBTasks, node: "", webLabels: []string{"faas.lb", "local"},
			wantWeb: []string{"10.0.1.10:8080", "10.0.1.11:8080", "10.0.1.12:8080"}, wantPlain: []string{"10.0.1.20:8080", "10.0.1.21:8080"}, wantCaveat: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := State{
				Services: []swarm.Service{
					fake.Service("web", fake.Enabled(tt.webLabels...), fake.ServiceReplicas(3)),
					fake.Service("plain", fake.Enabled(), fake.ServiceReplicas(2)),
				},
				Tasks: tasks, Networks: nets, LocalAddrs: gateway,
			}
			tbl, rep := Build(st, Options{LabelPrefix: "faas", LB: tt.lb, NodeID: tt.node})
			for svc, want := range map[string][]string{"web": tt.wantWeb, "plain": tt.wantPlain} {
				r := tbl.Lookup("", "/"+svc)
				if r == nil {
					t.Fatalf("%s not routed: %v", svc, rep.Problems)
				}
				if got := r.Pick().Targets(); !slices.Equal(got, want) {
					t.Errorf("%s's targets = %v, want %v", svc, got, want)
				}
				if n, all := len(r.Pick().Upstreams), map[string]int{"web": 3, "plain": 2}[svc]; n != all {
					t.Errorf("%s lists %d upstreams, want all its %d replicas", svc, n, all)
				}
			}
			_, caveat := rep.Problems[discovery.ProblemKey{Service: "web"}]
			if caveat != tt.wantCaveat {
				t.Errorf("caveat for web: %v, want %v (%v)", caveat, tt.wantCaveat, rep.Problems)
			}
		})
	}
}
