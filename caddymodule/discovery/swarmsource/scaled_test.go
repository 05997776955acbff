package swarmsource

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// TestBuildScaled checks what the sides of a service carry of its
// scaling labels and counts: the spec (nil without labels, or with
// malformed ones, which are reported and the service still routed), its
// ID, the spec's count and its tasks running.
func TestBuildScaled(t *testing.T) {
	starting := fake.Task("s", "10.0.1.6", fake.TaskState(swarm.TaskStateRunning, swarm.TaskStateStarting))
	for _, tt := range []struct {
		name             string
		labels           []string
		want             *scaling.Spec
		desired, running uint64
		problem          string
	}{
		{name: "no scaling labels", desired: 3, running: 2},
		{name: "scaled", labels: []string{"faas.scale.max", "4", "faas.scale.idle", "30s"}, desired: 3, running: 2,
			want: &scaling.Spec{Min: 0, Max: 4, Idle: 30 * time.Second, Target: labels.DefaultScaleTarget}},
		{name: "malformed", labels: []string{"faas.scale.min", "2"}, desired: 3, running: 2, problem: "service not scaled: label faas.scale.max is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := State{
				Networks:   []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")},
				LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.1.2")},
				Services:   []swarm.Service{fake.Service("s", fake.Enabled(tt.labels...), fake.ServiceReplicas(3))},
				Tasks:      []swarm.Task{fake.Task("s", "10.0.1.4"), fake.Task("s", "10.0.1.5"), starting},
			}
			table, rep := Build(st, Options{LabelPrefix: "faas", LB: labels.LBTasks})
			rt := table.Lookup("", "/s")
			if rt == nil {
				t.Fatalf("not routed: %+v", rep.Problems)
			}
			side := rt.Pick()
			if (side.Scaling == nil) != (tt.want == nil) || tt.want != nil && *side.Scaling != *tt.want {
				t.Errorf("scaling %+v, want %+v", side.Scaling, tt.want)
			}
			if side.ServiceID != "s" || side.Desired != tt.desired || side.Running != tt.running {
				t.Errorf("ID %q, desired %d, running %d; want s, %d, %d", side.ServiceID, side.Desired, side.Running, tt.desired, tt.running)
			}
			p := rep.Problems[discovery.ProblemKey{Service: "s"}]
			if tt.problem != "" && (p.Reason != discovery.ReasonCaveat || !strings.Contains(p.Message, tt.problem)) {
				t.Errorf("problem %+v, want a caveat with %q", p, tt.problem)
			}
		})
	}
}
