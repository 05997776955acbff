package caddymodule

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

func TestBuildTable(t *testing.T) {
	nets := []network.Summary{
		testNetwork(testNetID, "faas_net", "10.0.1.0/24"),
		testNetwork("net2", "faas_other", "10.0.2.0/24"),
		testNetwork("ingress", "ingress", "10.0.0.0/24"),
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
			services: []swarm.Service{swarmService("faas_multiply", enabled(), serviceLabels(stackNamespaceLabel, "faas"), serviceReplicas(3))},
			tasks: []swarm.Task{
				swarmTask("faas_multiply", "10.0.1.12"),
				swarmTask("faas_multiply", "10.0.1.10"),
				swarmTask("faas_multiply", "10.0.1.11", taskState(running, starting)),
				swarmTask("faas_multiply", "10.0.1.13", taskState(stopping, running)),
				swarmTask("other", "10.0.1.99"),
			},
			local:      gateway[:1],
			want:       map[string][]string{"/multiply": {"10.0.1.10:8080", "10.0.1.12:8080"}},
			converging: []string{"faas_multiply"},
		},
		{
			name:     "not enabled: absent, no problem",
			services: []swarm.Service{swarmService("web", serviceLabels("faas.enable", "false"))},
			tasks:    []swarm.Task{swarmTask("web", "10.0.1.5")},
			local:    gateway[:1],
			want:     map[string][]string{},
		},
		{
			name: "bad label disables only that service",
			services: []swarm.Service{
				swarmService("good", enabled()),
				swarmService("bad", enabled("faas.port", "http")),
			},
			tasks:        []swarm.Task{swarmTask("good", "10.0.1.5"), swarmTask("bad", "10.0.1.6")},
			local:        gateway[:1],
			want:         map[string][]string{"/good": {"10.0.1.5:8080"}},
			wantProblems: map[string]string{"bad": `faas.port="http"`},
		},
		{
			name: "duplicate prefix: oldest wins, others warned",
			services: []swarm.Service{
				swarmService("young", enabled("faas.path", "/multiply/"), serviceCreated(2)),
				swarmService("old", enabled("faas.path", "/multiply"), serviceCreated(1)),
			},
			tasks:        []swarm.Task{swarmTask("young", "10.0.1.5"), swarmTask("old", "10.0.1.6")},
			local:        gateway[:1],
			want:         map[string][]string{"/multiply": {"10.0.1.6:8080"}},
			wantProblems: map[string]string{"young": "already claimed by older service old"},
		},
		{
			name:     "zero running tasks: route kept with no upstream",
			services: []swarm.Service{swarmService("s", enabled(), serviceReplicas(0))},
			local:    gateway[:1],
			want:     map[string][]string{"/s": {}},
		},
		{
			name:     "several shared networks: network label chooses",
			services: []swarm.Service{swarmService("s", enabled("faas.network", "other"), serviceNetworks(testNetID, "net2"), serviceLabels(stackNamespaceLabel, "faas"))},
			tasks:    []swarm.Task{swarmTask("s", "10.0.2.7", taskOnNetwork("net2"))},
			local:    gateway,
			want:     map[string][]string{"/s": {"10.0.2.7:8080"}},
		},
		{
			name:         "several shared networks without label: first by name, with a caveat",
			services:     []swarm.Service{swarmService("s", enabled(), serviceNetworks(testNetID, "net2"))},
			tasks:        []swarm.Task{swarmTask("s", "10.0.1.7")},
			local:        gateway,
			want:         map[string][]string{"/s": {"10.0.1.7:8080"}},
			wantProblems: map[string]string{"s": "set the network label"},
		},
		{
			name:         "network label naming a network the service lacks",
			services:     []swarm.Service{swarmService("s", enabled("faas.network", "nope"), serviceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": `network "nope" of its network label is not one it shares`},
		},
		{
			name: "service on a network the gateway is not on: not routed, claims nothing",
			services: []swarm.Service{
				swarmService("elsewhere", enabled("faas.path", "/m"), serviceNetworks("net2"), serviceCreated(0)),
				swarmService("here", enabled("faas.path", "/m"), serviceCreated(1)),
			},
			tasks:        []swarm.Task{swarmTask("here", "10.0.1.8"), swarmTask("elsewhere", "10.0.2.8", taskOnNetwork("net2"))},
			local:        gateway[:1],
			want:         map[string][]string{"/m": {"10.0.1.8:8080"}},
			wantProblems: map[string]string{"elsewhere": "shares no network with the gateway"},
		},
		{
			// Issue 9, defect 2: the network label cannot pick a network the
			// gateway is not on, nor push a reachable service off its prefix.
			name: "network label naming a network the gateway is not on: not routed, claims nothing",
			services: []swarm.Service{
				swarmService("elsewhere", enabled("faas.path", "/m", "faas.network", "faas_other"), serviceNetworks(testNetID, "net2"), serviceCreated(0)),
				swarmService("here", enabled("faas.path", "/m"), serviceCreated(1)),
			},
			tasks:        []swarm.Task{swarmTask("here", "10.0.1.8"), swarmTask("elsewhere", "10.0.2.8", taskOnNetwork("net2"))},
			local:        gateway[:1],
			want:         map[string][]string{"/m": {"10.0.1.8:8080"}},
			wantProblems: map[string]string{"elsewhere": `network "faas_other" of its network label is not one it shares with the gateway (it shares: faas_net)`},
		},
		{
			// Issue 9, defect 6: the network option is a preference.
			name:     "network option naming a network the service is not on: its shared one",
			services: []swarm.Service{swarmService("s", enabled())},
			tasks:    []swarm.Task{swarmTask("s", "10.0.1.9")},
			local:    gateway,
			network:  "faas_other",
			want:     map[string][]string{"/s": {"10.0.1.9:8080"}},
		},
		{
			name:     "network option choosing among shared networks",
			services: []swarm.Service{swarmService("s", enabled(), serviceNetworks(testNetID, "net2"))},
			tasks:    []swarm.Task{swarmTask("s", "10.0.2.9", taskOnNetwork("net2"))},
			local:    gateway,
			network:  "faas_other",
			want:     map[string][]string{"/s": {"10.0.2.9:8080"}},
		},
		{
			name: "hosts: the oldest claim on a host and prefix wins, other prefixes coexist",
			services: []swarm.Service{
				swarmService("a", enabled("faas.host", "x.test"), serviceCreated(0)),
				swarmService("b", enabled("faas.host", "x.test", "faas.path", "/b"), serviceCreated(1)),
				swarmService("c", enabled("faas.host", "X.test."), serviceCreated(2)),
				swarmService("d", enabled("faas.path", "/"), serviceCreated(3)),
			},
			tasks: []swarm.Task{swarmTask("a", "10.0.1.1"), swarmTask("b", "10.0.1.2"), swarmTask("c", "10.0.1.3"), swarmTask("d", "10.0.1.4")},
			local: gateway[:1],
			want: map[string][]string{
				"x.test/": {"10.0.1.1:8080"}, "x.test/b": {"10.0.1.2:8080"}, "/": {"10.0.1.4:8080"},
			},
			wantProblems: map[string]string{"c": "service not routed: prefix / on host x.test is already claimed by older service a"},
		},
		{
			name: "named routes: each with its own host, path and port; a bad one alone is not routed",
			services: []swarm.Service{swarmService("s",
				enabled("faas.routes.api.path", "/api", "faas.routes.admin.host", "admin.test", "faas.routes.admin.port", "9000",
					"faas.routes.bad.host", "a_b.test"),
			)},
			tasks: []swarm.Task{swarmTask("s", "10.0.1.5")},
			local: gateway[:1],
			want: map[string][]string{
				"/api": {"10.0.1.5:8080"}, "admin.test/": {"10.0.1.5:9000"},
			},
			wantProblems: map[string]string{"s/bad": `route bad not routed: label faas.routes.bad.host="a_b.test"`},
		},
		{
			name: "named routes of two services conflict by name",
			services: []swarm.Service{
				swarmService("old", enabled("faas.routes.web.host", "w.test"), serviceCreated(0)),
				swarmService("new", enabled("faas.routes.site.host", "w.test"), serviceCreated(1)),
			},
			tasks:        []swarm.Task{swarmTask("old", "10.0.1.6"), swarmTask("new", "10.0.1.7")},
			local:        gateway[:1],
			want:         map[string][]string{"w.test/": {"10.0.1.6:8080"}},
			wantProblems: map[string]string{"new/site": "route site not routed: prefix / on host w.test is already claimed by route web of older service old"},
		},
		{
			name:         "ingress only",
			services:     []swarm.Service{swarmService("s", enabled(), serviceNetworks("ingress"), serviceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": "no network the gateway can reach"},
		},
		{
			name:     "gateway outside the swarm: the service's network",
			services: []swarm.Service{swarmService("s", enabled())},
			tasks:    []swarm.Task{swarmTask("s", "10.0.1.9")},
			local:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
			want:     map[string][]string{"/s": {"10.0.1.9:8080"}},
		},
		{
			name:     "vip mode from the label",
			services: []swarm.Service{swarmService("s", enabled("faas.lb", "vip"), serviceVIPs("ingress", "10.0.0.4/24"), serviceVIPs(testNetID, "10.0.1.4/24"), serviceReplicas(2))},
			tasks:    []swarm.Task{swarmTask("s", "10.0.1.9"), swarmTask("s", "10.0.1.10")},
			local:    gateway[:1],
			want:     map[string][]string{"/s": {"10.0.1.4:8080"}},
		},
		{
			name:         "vip mode without a vip (dnsrr)",
			services:     []swarm.Service{swarmService("s", enabled("faas.lb", "vip"), serviceReplicas(0))},
			local:        gateway[:1],
			want:         map[string][]string{},
			wantProblems: map[string]string{"s": "no virtual IP"},
		},
		{
			name:       "update in progress converges",
			services:   []swarm.Service{swarmService("s", enabled(), serviceUpdating())},
			tasks:      []swarm.Task{swarmTask("s", "10.0.1.9")},
			local:      gateway[:1],
			want:       map[string][]string{"/s": {"10.0.1.9:8080"}},
			converging: []string{"s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, rep := buildTable(swarmState{Services: tt.services, Tasks: tt.tasks, Networks: nets, LocalAddrs: tt.local},
				buildOptions{LabelPrefix: "faas", LB: lbTasks, Network: tt.network})
			got := map[string][]string{}
			table.each(func(r *route) { got[r.Host+r.Prefix] = r.Upstreams })
			if len(got) != len(tt.want) {
				t.Fatalf("routes = %v, want %v (problems %v)", got, tt.want, rep.problems)
			}
			for p, ups := range tt.want {
				if !slices.Equal(got[p], ups) {
					t.Errorf("route %s = %v, want %v", p, got[p], ups)
				}
			}
			if len(rep.problems) != len(tt.wantProblems) {
				t.Errorf("problems = %v, want %v", rep.problems, tt.wantProblems)
			}
			for svc, sub := range tt.wantProblems {
				k := problemKey{Service: svc}
				if s, r, ok := strings.Cut(svc, "/"); ok {
					k = problemKey{s, r}
				}
				if !strings.Contains(rep.problems[k], sub) {
					t.Errorf("problem for %s = %q, want it to contain %q", svc, rep.problems[k], sub)
				}
			}
			if got := convergingNames(rep); !slices.Equal(got, tt.converging) {
				t.Errorf("converging = %v, want %v", got, tt.converging)
			}
		})
	}
}

// convergingNames lists the converging services of a report, sorted.
func convergingNames(rep buildReport) []string {
	var names []string
	for name, s := range rep.services {
		if s.Converging {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
