package containersource

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// testNets are a compose network the gateway is on, another network it
// is on, and the default bridge it is not on.
var testNets = []network.Summary{
	fake.Network(fake.NetID, "faas_net", "10.0.1.0/24"),
	fake.Network("net2", "shop_back", "10.0.2.0/24"),
	fake.Network("bridge0", "bridge", "172.17.0.0/16"),
}

var gatewayAddrs = []netip.Addr{netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("10.0.2.2")}

func testOpts() Options { return Options{LabelPrefix: "faas"} }

// routes are a table's routes: host+prefix to the upstreams of its first
// side ([] for none).
func routes(t *routing.Table) map[string][]string {
	out := make(map[string][]string)
	t.Each(func(r *routing.Route) { out[r.Host+r.Prefix] = append([]string{}, r.Sides[0].Upstreams...) })
	return out
}

func TestBuildTable(t *testing.T) {
	tests := []struct {
		name         string
		containers   []container.Summary
		leaving      []string
		local        []netip.Addr
		network      string              // the module's network option
		publishHost  string              // the engine's publish host: not the gateway's own
		want         map[string][]string // host+prefix -> upstreams
		wantProblems map[string]string   // group, or group/route -> substring
	}{
		{
			name: "compose service scaled to three: one route, its prefix the service's name",
			containers: []container.Summary{
				fake.Container("c3", "shop-web-3", "10.0.1.13", 2, fake.Compose("shop", "web")),
				fake.Container("c1", "shop-web-1", "10.0.1.11", 0, fake.Compose("shop", "web")),
				fake.Container("c2", "shop-web-2", "10.0.1.12", 1, fake.Compose("shop", "web")),
			},
			want: map[string][]string{"/web": {"10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.13:8080"}},
		},
		{
			name:       "docker run: the prefix is the container's name",
			containers: []container.Summary{fake.Container("c1", "hello", "10.0.1.11", 0)},
			want:       map[string][]string{"/hello": {"10.0.1.11:8080"}},
		},
		{
			name: "labels as on services: host, path, port, named routes",
			containers: []container.Summary{fake.Container("c1", "api", "10.0.1.11", 0, fake.ContainerLabels(
				"faas.host", "api.example.com", "faas.path", "/v1", "faas.routes.admin.path", "/admin", "faas.routes.admin.port", "9000",
				"faas.routes.main.path", "/v1"))},
			want: map[string][]string{"api.example.com/admin": {"10.0.1.11:9000"}, "api.example.com/v1": {"10.0.1.11:8080"}},
		},
		{
			name: "health: starting and unhealthy do not serve, healthy and no check do",
			containers: []container.Summary{
				fake.Container("c1", "w-1", "10.0.1.11", 0, fake.Compose("p", "w"), fake.ContainerStatus("Up 5 seconds (health: starting)")),
				fake.Container("c2", "w-2", "10.0.1.12", 1, fake.Compose("p", "w"), fake.ContainerStatus("Up 1 minute (unhealthy)")),
				fake.Container("c3", "w-3", "10.0.1.13", 2, fake.Compose("p", "w"), fake.ContainerStatus("Up 1 minute (healthy)")),
				fake.Container("c4", "w-4", "10.0.1.14", 3, fake.Compose("p", "w")),
			},
			want: map[string][]string{"/w": {"10.0.1.13:8080", "10.0.1.14:8080"}},
		},
		{
			name:       "only container starting: the route is claimed with no replica",
			containers: []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0, fake.ContainerStatus("Up 1 second (health: starting)"))},
			want:       map[string][]string{"/w": {}},
		},
		{
			name: "leaving (stop signal, or gone): claims, serves nothing",
			containers: []container.Summary{
				fake.Container("c1", "w-1", "10.0.1.11", 0, fake.Compose("p", "w")),
				fake.Container("c2", "w-2", "10.0.1.12", 1, fake.Compose("p", "w")),
				fake.Container("c3", "solo", "10.0.1.13", 2),
			},
			leaving: []string{"c1", "c3"},
			want:    map[string][]string{"/w": {"10.0.1.12:8080"}, "/solo": {}},
		},
		{
			name: "not enabled, or enabled false: absent, no problem",
			containers: []container.Summary{
				fake.Container("c1", "off", "10.0.1.11", 0, fake.ContainerLabels("faas.enable", "false")),
			},
			want: map[string][]string{},
		},
		{
			name: "the older claim wins, the newer is told",
			containers: []container.Summary{
				fake.Container("new", "newer", "10.0.1.12", 5*time.Second, fake.ContainerLabels("faas.path", "/app")),
				fake.Container("old", "older", "10.0.1.11", 0, fake.ContainerLabels("faas.path", "/app")),
			},
			want:         map[string][]string{"/app": {"10.0.1.11:8080"}},
			wantProblems: map[string]string{"newer": "is already claimed by older service older"},
		},
		{
			name: "several shared networks: the first by name, with a caveat",
			containers: []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0,
				fake.ContainerOn("shop_back", "net2", "10.0.2.11"))},
			want:         map[string][]string{"/w": {"10.0.1.11:8080"}},
			wantProblems: map[string]string{"w": "set the network label to choose"},
		},
		{
			name: "network label, in the compose project's namespace",
			containers: []container.Summary{fake.Container("c1", "shop-w-1", "10.0.1.11", 0, fake.Compose("shop", "w"),
				fake.ContainerOn("shop_back", "net2", "10.0.2.11"), fake.ContainerLabels("faas.network", "back"))},
			want: map[string][]string{"/w": {"10.0.2.11:8080"}},
		},
		{
			name: "the network option, when the container is on it",
			containers: []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0,
				fake.ContainerOn("shop_back", "net2", "10.0.2.11"))},
			network: "shop_back",
			want:    map[string][]string{"/w": {"10.0.2.11:8080"}},
		},
		{
			name: "on no network the gateway shares: not routed, claims nothing",
			containers: []container.Summary{fake.Container("c1", "lone", "10.0.1.11", 0, func(c *container.Summary) {
				c.NetworkSettings.Networks = map[string]*network.EndpointSettings{"bridge": {NetworkID: "bridge0", IPAddress: "172.17.0.5"}}
			})},
			want:         map[string][]string{},
			wantProblems: map[string]string{"lone": "shares no network with the gateway (its networks: bridge)"},
		},
		{
			name: "gateway outside the engine's networks (development): any network",
			containers: []container.Summary{fake.Container("c1", "lone", "10.0.1.11", 0, func(c *container.Summary) {
				c.NetworkSettings.Networks = map[string]*network.EndpointSettings{"bridge": {NetworkID: "bridge0", IPAddress: "172.17.0.5"}}
			})},
			local: []netip.Addr{netip.MustParseAddr("192.168.1.5")},
			want:  map[string][]string{"/lone": {"172.17.0.5:8080"}},
		},
		{
			name:         "a bad label: not routed, said why",
			containers:   []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0, fake.ContainerLabels("faas.port", "http"))},
			want:         map[string][]string{},
			wantProblems: map[string]string{"w": "container w not routed: "},
		},
		{
			name:         "lb label: a caveat, each container is an upstream",
			containers:   []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0, fake.ContainerLabels("faas.lb", "vip"))},
			want:         map[string][]string{"/w": {"10.0.1.11:8080"}},
			wantProblems: map[string]string{"w": "lb vip is for swarm services"},
		},
		{
			name: "another engine: its published port at its publish host, never its address on a network the gateway's subnet overlaps",
			containers: []container.Summary{
				fake.Container("c1", "w", "10.0.1.11", 0, fake.ContainerPublishes("0.0.0.0", 8080, 32768)),
				fake.Container("c2", "v6", "10.0.1.12", 0, fake.ContainerPublishes("::", 8080, 32769)),
			},
			publishHost: "192.0.2.10",
			want:        map[string][]string{"/w": {"192.0.2.10:32768"}, "/v6": {"192.0.2.10:32769"}},
		},
		{
			name: "another engine, the port not published (or on loopback only, or another port): not routed, told what to publish",
			containers: []container.Summary{
				fake.Container("c1", "w", "10.0.1.11", 0),
				fake.Container("c2", "lo", "10.0.1.12", 0, fake.ContainerPublishes("127.0.0.1", 8080, 32768)),
				fake.Container("c3", "other", "10.0.1.13", 0, fake.ContainerPublishes("0.0.0.0", 9090, 32770)),
			},
			publishHost: "green.example",
			want:        map[string][]string{},
			wantProblems: map[string]string{
				"w":     "container w publishes no port for its port 8080, and its engine is reached at green.example on published ports only (publish it: docker run -p 8080",
				"lo":    "container lo publishes no port for its port 8080",
				"other": "container other publishes no port for its port 8080",
			},
		},
		{
			name:        "another engine, a leaving container: its claim stays, with no upstream and no warning",
			containers:  []container.Summary{fake.Container("c1", "w", "10.0.1.11", 0)},
			leaving:     []string{"c1"},
			publishHost: "green.example",
			want:        map[string][]string{"/w": {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := tt.local
			if local == nil {
				local = gatewayAddrs
			}
			leaving := make(map[string]bool)
			for _, id := range tt.leaving {
				leaving[id] = true
			}
			opts := testOpts()
			opts.Network, opts.PublishHost = tt.network, tt.publishHost
			tbl, rep := Build(State{Containers: tt.containers, Leaving: leaving, Networks: testNets, LocalAddrs: local}, opts)
			got := routes(tbl)
			if len(got) != len(tt.want) {
				t.Errorf("routes = %v, want %v", got, tt.want)
			}
			for k, want := range tt.want {
				if g, ok := got[k]; !ok || !slices.Equal(g, want) {
					t.Errorf("route %s = %v (present %v), want %v", k, g, ok, want)
				}
			}
			fake.CheckProblems(t, rep, tt.wantProblems)
		})
	}
}
