package containersource

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	dockerapi "github.com/faas-gateway/faas-gateway/docker-api"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// TestThroughTheDockerClient: through the real Docker client, the source
// lists the labelled running containers with the filters the engine (and
// the fake) honour, skips the others, and calls nothing docker-api would
// refuse.
func TestThroughTheDockerClient(t *testing.T) {
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "faas_net", "10.0.1.0/24")}
	stopped := fake.Container("c3", "gone", "10.0.1.13", 0)
	stopped.State = "exited"
	fe.Containers = []container.Summary{
		fake.Container("c1", "hello", "10.0.1.11", 0),
		fake.Container("c2", "plain", "10.0.1.12", 0, func(c *container.Summary) { delete(c.Labels, "faas.enable") }),
		stopped,
	}
	opts := Options{Conn: engine.Conn{DockerHost: fe.Host()}, LabelPrefix: "faas", ResyncInterval: time.Hour, APITimeout: 5 * time.Second}
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src.LocalAddrs = func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.0.1.2")} }
	w := discovery.New(src, discovery.Options{})
	w.Start()
	t.Cleanup(func() { _ = w.Destruct() })
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready within 5s")
	}
	if r := w.Table().Lookup("", "/hello"); r == nil || len(r.Sides[0].Upstreams) != 1 || r.Sides[0].Upstreams[0] != "10.0.1.11:8080" {
		t.Errorf("route /hello = %v, want 10.0.1.11:8080", r)
	}
	if n := w.Table().Len(); n != 1 {
		t.Errorf("%d routes, want /hello only", n)
	}
	for deadline := time.Now().Add(5 * time.Second); fe.CallCount("GET /events") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no event stream opened within 5s")
		}
	}
	for _, c := range fe.CallSet() {
		method, path, _ := strings.Cut(c, " ")
		if !dockerapi.Allows(method, path) {
			t.Errorf("call %q is outside docker-api's allowlist", c)
		}
	}
}
