package containersource

// This file holds every call the container source makes to the Docker
// Engine API: the listing of the opted-in running containers (all of them
// or some), the network listing, a container's stop signal, and the
// event stream.

import (
	"context"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// dockerAPI is the part of the Docker Engine API the source uses: HEAD or
// GET /_ping (version negotiation), GET /containers/json, GET
// /containers/{id}/json (only for a kill event whose signal may be the
// container's own stop signal), GET /networks and GET /events.
type dockerAPI interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	DaemonHost() string
	Close() error
}

// Endpoints are the Docker API endpoints the source calls, as its errors
// and the metrics name them.
var Endpoints = []string{"GET /containers/json", "GET /containers/{id}/json", "GET /networks", eventsEndpoint}

const eventsEndpoint = "GET /events (containers)"

// Labels that docker sets on the containers of swarm tasks and of compose
// services.
const (
	swarmTaskLabel      = "com.docker.swarm.task.id"
	swarmServiceLabel   = "com.docker.swarm.service.id"
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
)

// maxFilterIDs is the most container IDs one call filters by (more are
// listed all at once): it keeps the URL short.
const maxFilterIDs = 100

// lister makes the listings a route table is built from, each call within
// its time limit.
type lister struct {
	engine.Caller
	api         dockerAPI
	labelPrefix string
}

// containers lists the running containers that opt in by label, not
// those of swarm tasks: all of them, or those of the given IDs (at most
// maxFilterIDs).
func (l lister) containers(ctx context.Context, ids []string) ([]container.Summary, error) {
	f := filters.NewArgs(
		filters.Arg("label", l.labelPrefix+"."+labels.Enable),
		filters.Arg("status", "running"),
	)
	for _, id := range ids {
		f.Add("id", id)
	}
	var list []container.Summary
	err := l.Call(ctx, "GET /containers/json", func(ctx context.Context) (err error) {
		list, err = l.api.ContainerList(ctx, container.ListOptions{Filters: f})
		return err
	})
	if err != nil {
		return nil, err
	}
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	out := list[:0]
	for _, c := range list {
		// dockerd matches IDs by prefix: keep exact matches only.
		if ids != nil && !asked[c.ID] || c.Labels[swarmTaskLabel] != "" || c.Labels[swarmServiceLabel] != "" {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// networks lists the engine's networks, of every driver: containers are on
// bridge and user-defined networks as well as attachable overlays.
func (l lister) networks(ctx context.Context) ([]network.Summary, error) {
	var list []network.Summary
	err := l.Call(ctx, "GET /networks", func(ctx context.Context) (err error) {
		list, err = l.api.NetworkList(ctx, network.ListOptions{})
		return err
	})
	return list, err
}

// stopSignal returns the number of a container's own stop signal.
func (l lister) stopSignal(ctx context.Context, id string) (int, error) {
	var sig string
	err := l.Call(ctx, "GET /containers/{id}/json", func(ctx context.Context) error {
		c, err := l.api.ContainerInspect(ctx, id)
		if err == nil && c.Config != nil {
			sig = c.Config.StopSignal
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return parseSignal(sig)
}

// watchedActions are the container events that change what is routed.
var watchedActions = []events.Action{
	events.ActionStart, events.ActionHealthStatus, events.ActionKill, events.ActionDie,
	events.ActionStop, events.ActionDestroy, events.ActionRename, events.ActionPause, events.ActionUnPause,
}

// subscribe opens the stream of the opted-in containers' events. It does
// not block: the client waits for the engine's answer in its own
// goroutine, and ctx ends the stream.
func (l lister) subscribe(ctx context.Context) (<-chan events.Message, <-chan error) {
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", l.labelPrefix+"."+labels.Enable),
	)
	for _, a := range watchedActions {
		f.Add("event", string(a))
	}
	return l.api.Events(ctx, events.ListOptions{Filters: f})
}
