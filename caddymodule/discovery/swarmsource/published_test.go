package swarmsource

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// TestBuildPublished: the services of an engine that is not the gateway's
// own are reached at the engine's publish host on the port they publish,
// in either mode, never at their tasks' addresses, even on a network
// whose subnet the gateway's own address lies in; one that publishes
// none is not routed, and told what to publish; one with no running task
// keeps its claim with no upstream.
func TestBuildPublished(t *testing.T) {
	st := State{
		Services: []swarm.Service{
			fake.Service("web", fake.Enabled(), fake.ServicePublishes(8080, 30080, swarm.PortConfigPublishModeIngress)),
			fake.Service("api", fake.Enabled(), fake.ServicePublishes(9000, 39000, swarm.PortConfigPublishModeHost), fake.ServicePublishes(8080, 38080, swarm.PortConfigPublishModeHost)),
			fake.Service("hidden", fake.Enabled()),
			fake.Service("idle", fake.Enabled(), fake.ServiceReplicas(0), fake.ServicePublishes(8080, 30081, swarm.PortConfigPublishModeIngress)),
		},
		Tasks: []swarm.Task{
			fake.Task("web", "10.0.1.10"), fake.Task("web", "10.0.1.11"),
			fake.Task("api", "10.0.1.12"),
			fake.Task("hidden", "10.0.1.13"),
		},
		Networks:   []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.1.2")}, // the gateway's own engine's subnet, the same
	}
	tbl, rep := Build(st, Options{LabelPrefix: "faas", LB: "tasks", PublishHost: "green.example"})
	want := map[string][]string{"/web": {"green.example:30080"}, "/api": {"green.example:38080"}, "/idle": {}}
	got := make(map[string][]string)
	tbl.Each(func(r *routing.Route) { got[r.Prefix] = append([]string{}, r.Sides[0].Upstreams...) })
	if len(got) != len(want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("%s = %v, want %v", p, got[p], w)
		}
	}
	fake.CheckProblems(t, rep, map[string]string{
		"hidden": "the service publishes no port for its port 8080, and its engine is reached at green.example on published ports only (publish it: docker service update --publish-add 8080)",
	})
	if p := rep.Problems[discovery.ProblemKey{Service: "hidden"}]; p.Reason != discovery.ReasonNetwork {
		t.Errorf("reason %q, want %q", p.Reason, discovery.ReasonNetwork)
	}
}
