package caddymodule

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/docker/docker/api/types/container"
	"go.uber.org/goleak"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

func TestWatcherSharedAcrossReloadAndStoppedOnCleanup(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fe := fake.NewEngine(t)
	fe.Seed(nil, "10.0.1.10")
	d := Discovery{DockerHost: fe.Host()}

	provision := func(m interface {
		caddy.Provisioner
		caddy.CleanerUpper
	}) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		if err := m.Provision(ctx); err != nil {
			t.Fatalf("provision: %v", err)
		}
	}
	// The old config: an upstream source and a router with the same options.
	old1, old2 := &SwarmUpstreams{Discovery: d}, &SwarmRoute{Discovery: d}
	provision(old1)
	provision(old2)
	if old1.watcher != old2.watcher {
		t.Fatal("modules with equal options got different watchers")
	}
	w := old1.watcher
	// A reload provisions the new config before cleaning up the old one.
	next := &SwarmUpstreams{Discovery: d}
	provision(next)
	for _, m := range []caddy.CleanerUpper{old1, old2} {
		if err := m.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	if next.watcher != w {
		t.Fatal("the reload got a new watcher")
	}
	select {
	case <-w.Done():
		t.Fatal("the watcher stopped while the new config still uses it")
	default:
	}
	if err := next.Cleanup(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not stop after its last user was cleaned up")
	}
	// A request of the old config still in flight (a retry, say) reads the
	// watcher after Cleanup: it gets the last routes, not a nil pointer.
	if _, err := old1.GetUpstreams(httptest.NewRequest("GET", "/s/x", nil)); err != nil {
		t.Errorf("GetUpstreams after Cleanup: %v", err)
	}
	if err := old1.Cleanup(); err != nil {
		t.Errorf("a second Cleanup: %v", err)
	}
	// Cleanup after a failed or absent Provision is harmless.
	if err := (&SwarmUpstreams{}).Cleanup(); err != nil {
		t.Fatal(err)
	}
	fe.Close()
}

// TestContainersBesideServices: by default the watcher routes labelled
// standalone containers beside the swarm services, only them on an
// engine that is no swarm manager, and none with containers off.
func TestContainersBesideServices(t *testing.T) {
	for _, tt := range []struct {
		name       string
		containers string
		notManager bool
		want       []string // prefixes routed
	}{
		{"both", "", false, []string{"/hello", "/s"}},
		{"plain engine: containers only", "", true, []string{"/hello"}},
		{"containers off", "off", false, []string{"/s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := fake.NewEngine(t)
			fe.Seed(nil, "10.0.1.10")
			fe.NotManager = tt.notManager
			fe.Containers = []container.Summary{fake.Container("c1", "hello", "10.0.1.20", 0)}
			m := &SwarmUpstreams{Discovery: Discovery{DockerHost: fe.Host(), Containers: tt.containers}}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := m.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = m.Cleanup() }()
			select {
			case <-m.watcher.Ready():
			case <-time.After(5 * time.Second):
				t.Fatal("not ready within 5s")
			}
			var got []string
			m.watcher.Table().Each(func(r *routing.Route) { got = append(got, r.Prefix) })
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("routes %v, want %v", got, tt.want)
			}
			if listed := fe.CallCount("GET /containers/json") > 0; listed != (tt.containers != "off") {
				t.Errorf("containers listed: %v, with containers %q", listed, tt.containers)
			}
		})
	}
}
