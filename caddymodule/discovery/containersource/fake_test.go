package containersource

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// fakeAPI is an engine's containers and networks as the source reads
// them, honouring the filters it lists with, and recording its calls.
type fakeAPI struct {
	mu         sync.Mutex
	containers []container.Summary
	networks   []network.Summary
	stopSig    map[string]string // Config.StopSignal by ID
	calls      []string          // "list", "list c1 c2" (by ID), "networks", "inspect c1"
	events     chan events.Message
	refuse     bool // answer the listing 403, as a docker-api that predates containers
	// eventsErr, when set, fails every subscription at once; opens counts
	// the subscriptions.
	eventsErr error
	opens     int
}

func newFakeAPI(cs ...container.Summary) *fakeAPI {
	return &fakeAPI{containers: cs, networks: testNets, stopSig: map[string]string{}, events: make(chan events.Message, 16)}
}

func (f *fakeAPI) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := o.Filters.Get("id")
	f.calls = append(f.calls, strings.TrimSpace("list "+strings.Join(ids, " ")))
	if f.refuse {
		return nil, fmt.Errorf("forbidden by docker-api: %w", cerrdefs.ErrPermissionDenied)
	}
	return fake.ListContainers(f.containers, o.Filters), nil
}

func (f *fakeAPI) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "inspect "+id)
	for _, c := range f.containers {
		if c.ID == id {
			return container.InspectResponse{Config: &container.Config{StopSignal: f.stopSig[id]}}, nil
		}
	}
	return container.InspectResponse{}, errors.New("no such container")
}

func (f *fakeAPI) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "networks")
	return f.networks, nil
}

func (f *fakeAPI) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	errs := make(chan error, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if f.eventsErr != nil {
		errs <- f.eventsErr
		return make(chan events.Message), errs
	}
	go func() {
		<-ctx.Done()
		errs <- ctx.Err()
	}()
	return f.events, errs
}

func (f *fakeAPI) DaemonHost() string { return "unix:///fake.sock" }
func (f *fakeAPI) Close() error       { return nil }

// set replaces the engine's containers.
func (f *fakeAPI) set(cs ...container.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers = cs
}

// takeCalls returns the calls made since the last take.
func (f *fakeAPI) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// clock is a test's clock, moved by hand.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// testLoop returns a watcher (not started) and a loop of a source on api,
// with a clock the test moves, for the test to drive step by step, and
// the watcher's logs.
func testLoop(t *testing.T, api *fakeAPI) (*discovery.Watcher, *loop, *clock, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	clk := &clock{now: fake.Epoch.Add(time.Hour)}
	opts := testOpts()
	opts.ResyncInterval, opts.APITimeout = 30*time.Second, time.Second
	src := newSource(api, opts)
	src.LocalAddrs = func() []netip.Addr { return gatewayAddrs }
	w := discovery.New(src, discovery.Options{Now: clk.Now, Log: func() *zap.Logger { return log }})
	return w, src.newLoop(discovery.NewFeed(w)), clk, logs
}

// event is a container event of id.
func event(action events.Action, id string, attrs ...string) events.Message {
	m := events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: map[string]string{}}}
	for i := 0; i+1 < len(attrs); i += 2 {
		m.Actor.Attributes[attrs[i]] = attrs[i+1]
	}
	return m
}
