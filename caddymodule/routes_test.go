package caddymodule

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

func tableOf(prefixes ...string) *routeTable {
	t := &routeTable{byPrefix: map[string]*route{}}
	for _, p := range prefixes {
		t.byPrefix[p] = &route{Prefix: p, Service: "svc" + p}
		t.depth = max(t.depth, segments(p))
	}
	return t
}

func TestRouteTableMatch(t *testing.T) {
	table := tableOf("/multiply", "/multiply/v2", "/a/b/c", "/x.y")
	tests := []struct {
		path string
		want string // matched prefix, "" for none
	}{
		{"/multiply", "/multiply"},
		{"/multiply/", "/multiply"},
		{"/multiply/api/v1/add", "/multiply"},
		{"/multiply/v2", "/multiply/v2"},
		{"/multiply/v2/add", "/multiply/v2"},
		{"/multiply/v21", "/multiply"},
		{"/multiplyx", ""},
		{"/multipl", ""},
		{"/MULTIPLY", ""},
		{"/a/b", ""},
		{"/a/b/c/d", "/a/b/c"},
		{"/x.y/z", "/x.y"},
		{"/", ""},
		{"", ""},
		{"/multiply/../secret", ""},
		{"/secret/../multiply/add", "/multiply"},
		{"//multiply//add", "/multiply"},
		{"/./multiply/./add", "/multiply"},
		{"multiply/add", "/multiply"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := ""
			if r := table.match(matchKey(cleanPath(tt.path))); r != nil {
				got = r.Prefix
			}
			if got != tt.want {
				t.Errorf("match(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestRootPrefixIsCatchAll(t *testing.T) {
	table := tableOf("/", "/multiply")
	for path, want := range map[string]string{"/": "/", "/anything/else": "/", "/multiply/add": "/multiply"} {
		if r := table.match(matchKey(cleanPath(path))); r == nil || r.Prefix != want {
			t.Errorf("match(%q) = %v, want %q", path, r, want)
		}
	}
}

func TestCleanPathAndStrip(t *testing.T) {
	tests := []struct {
		path, prefix, cleaned, stripped string
	}{
		{"/multiply/api/v1/add", "/multiply", "/multiply/api/v1/add", "/api/v1/add"},
		{"/multiply", "/multiply", "/multiply", "/"},
		{"/multiply/", "/multiply", "/multiply/", "/"},
		{"/multiply/dir/", "/multiply", "/multiply/dir/", "/dir/"},
		{"/multiply//dir/./x/../y", "/multiply", "/multiply/dir/y", "/dir/y"},
		{"/anything", "/", "/anything", "/anything"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := cleanPath(tt.path)
			if c != tt.cleaned {
				t.Fatalf("cleanPath(%q) = %q, want %q", tt.path, c, tt.cleaned)
			}
			if s := stripPrefix(c, tt.prefix); s != tt.stripped {
				t.Errorf("stripPrefix(%q, %q) = %q, want %q", c, tt.prefix, s, tt.stripped)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	table := tableOf("/multiply")
	allocs := testing.AllocsPerRun(100, func() {
		_ = table.match(matchKey(cleanPath("/multiply/api/v1/add")))
	})
	if allocs != 0 {
		t.Errorf("match allocates %v times per call, want 0", allocs)
	}
}

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
		want         map[string][]string // prefix -> upstreams
		wantProblems map[string]string   // service -> substring
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
			wantProblems: map[string]string{"s": `network "nope" is not one of`},
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
			table := buildTable(swarmState{Services: tt.services, Tasks: tt.tasks, Networks: nets, LocalAddrs: tt.local},
				tableOptions{LabelPrefix: "faas", LB: lbTasks})
			got := map[string][]string{}
			for p, r := range table.byPrefix {
				got[p] = r.Upstreams
			}
			if len(got) != len(tt.want) {
				t.Fatalf("routes = %v, want %v (problems %v)", got, tt.want, table.problems)
			}
			for p, ups := range tt.want {
				if !slices.Equal(got[p], ups) {
					t.Errorf("route %s = %v, want %v", p, got[p], ups)
				}
			}
			if len(table.problems) != len(tt.wantProblems) {
				t.Errorf("problems = %v, want %v", table.problems, tt.wantProblems)
			}
			for svc, sub := range tt.wantProblems {
				if !strings.Contains(table.problems[svc], sub) {
					t.Errorf("problem for %s = %q, want it to contain %q", svc, table.problems[svc], sub)
				}
			}
			if !slices.Equal(table.converging, tt.converging) {
				t.Errorf("converging = %v, want %v", table.converging, tt.converging)
			}
		})
	}
}

// FuzzMatch checks the route table against a plain reading of the rules:
// the answer is the longest route prefix that equals the cleaned path or
// is followed in it by a slash, or none.
func FuzzMatch(f *testing.F) {
	for _, seed := range []string{"/multiply/api", "/multiply/../x", "//multiply", "/a/b/c/d", "/", "", "/multiplyx", "/a/./b/", "/%2e%2e/a", "/a/b/..", "multiply"} {
		f.Add(seed)
	}
	prefixes := []string{"/", "/multiply", "/a", "/a/b", "/a/b/c", "/x.y", "/m-1"}
	table := tableOf(prefixes...)
	f.Fuzz(func(t *testing.T, p string) {
		cleaned := cleanPath(p)
		if cleanPath(cleaned) != cleaned || !strings.HasPrefix(cleaned, "/") {
			t.Fatalf("cleanPath(%q) = %q is not clean", p, cleaned)
		}
		for _, seg := range strings.Split(cleaned, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("cleanPath(%q) = %q keeps a dot segment", p, cleaned)
			}
		}
		key := matchKey(cleaned)
		want := ""
		for _, pre := range prefixes {
			if (key == pre || pre == "/" || strings.HasPrefix(key, pre+"/")) && len(pre) > len(want) {
				want = pre
			}
		}
		got := ""
		if r := table.match(key); r != nil {
			got = r.Prefix
		}
		if got != want {
			t.Fatalf("match(%q) (cleaned %q) = %q, want %q", p, cleaned, got, want)
		}
		if got != "" {
			stripped := stripPrefix(cleaned, got)
			if !strings.HasPrefix(stripped, "/") || got != "/" && !strings.HasSuffix(got+stripped, strings.TrimPrefix(cleaned, got)) {
				t.Fatalf("stripPrefix(%q, %q) = %q", cleaned, got, stripped)
			}
		}
	})
}
