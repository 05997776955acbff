package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/goleak"

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
