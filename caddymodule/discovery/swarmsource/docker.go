package swarmsource

// This file holds every call the swarm source makes to the Docker Engine API: the
// client, the listings that make a State (of the opted-in services
// only, all of them or some), the cached network listing, and the event
// stream.

import (
	"context"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// dockerAPI is the part of the Docker Engine API the module uses. Keeping
// it narrow documents, and lets tests fake, exactly what is called:
// HEAD or GET /_ping (version negotiation), GET /services, GET /tasks,
// GET /networks and GET /events; and, through its HTTP client, docker-api's
// scale call (scaler.go).
type dockerAPI interface {
	HTTPClient() *http.Client
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	DaemonHost() string
	Close() error
}

// lister makes the listings a route table is built from, each call within
// its time limit.
type lister struct {
	engine.Caller
	api         dockerAPI
	labelPrefix string
	// now is the clock; a simulation replaces it.
	now func() time.Time
}

// eventsEndpoint names the event stream's endpoint in errors and metrics.
const eventsEndpoint = "GET /events"

// Endpoints are the Docker API endpoints the source calls, as its errors
// and the metrics name them.
var Endpoints = []string{"GET /services", "GET /tasks", "GET /networks", eventsEndpoint}

// maxFilterIDs is the most service IDs one call filters by, which keeps
// its URL within about 40 kB (dockerd reads at most 1 MB of headers).
const maxFilterIDs = 1000

// listAll lists the opted-in services, their running tasks and, when nets
// says they are needed, the networks: three calls at most (more
// only past maxFilterIDs opted-in services), and only the tasks of the
// opted-in services, however many other services and tasks the swarm has.
func (l lister) listAll(ctx context.Context, nets *networkCache, forceNets bool) (State, error) {
	return l.listServices(ctx, nil, nets, forceNets)
}

// listServices lists the opted-in services of the given IDs (all of them
// when ids is nil) and their running tasks; and the networks when nets
// does not cover them. A service removed between the two calls makes
// dockerd refuse the task listing with 404, so that listing is retried
// once.
func (l lister) listServices(ctx context.Context, ids []string, nets *networkCache, forceNets bool) (st State, err error) {
	for attempt := 0; ; attempt++ {
		if st.Services, err = l.services(ctx, ids); err != nil {
			return st, err
		}
		found := make([]string, len(st.Services))
		for i, s := range st.Services {
			found[i] = s.ID
		}
		st.Tasks, err = l.listTasks(ctx, found...)
		if err == nil || !client.IsErrNotFound(err) || attempt > 0 {
			break
		}
	}
	if err != nil || len(st.Services) == 0 {
		st.Networks = nets.list
		return st, err
	}
	st.Networks, err = l.networks(ctx, nets, st.Services, forceNets)
	return st, err
}

// services lists the opted-in services with their running and desired
// task counts: all of them, or those of the given IDs.
func (l lister) services(ctx context.Context, ids []string) ([]swarm.Service, error) {
	var out []swarm.Service
	for _, chunk := range idChunks(ids) {
		f := filters.NewArgs(filters.Arg("label", l.labelPrefix+"."+labels.Enable))
		for _, id := range chunk {
			f.Add("id", id)
		}
		var list []swarm.Service
		err := l.Call(ctx, "GET /services", func(ctx context.Context) (err error) {
			list, err = l.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: f, Status: true})
			return err
		})
		if err != nil {
			return nil, err
		}
		asked := idSet(chunk)
		for _, s := range list {
			// dockerd matches IDs by prefix: keep exact matches only.
			if chunk == nil || asked[s.ID] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// listTasks lists the tasks meant to be running of the given services, and
// asks for nothing when none is given.
func (l lister) listTasks(ctx context.Context, serviceIDs ...string) ([]swarm.Task, error) {
	var tasks []swarm.Task
	for _, chunk := range idChunks(serviceIDs) {
		if len(chunk) == 0 {
			break
		}
		f := filters.NewArgs(filters.Arg("desired-state", string(swarm.TaskStateRunning)))
		for _, id := range chunk {
			f.Add("service", id)
		}
		err := l.Call(ctx, "GET /tasks", func(ctx context.Context) error {
			list, err := l.api.TaskList(ctx, swarm.TaskListOptions{Filters: f})
			tasks = append(tasks, list...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return tasks, nil
}

// idChunks splits ids into filters of at most maxFilterIDs; nil stays one
// nil chunk (no ID filter).
func idChunks(ids []string) [][]string {
	if ids == nil {
		return [][]string{nil}
	}
	var out [][]string
	for len(ids) > maxFilterIDs {
		out = append(out, ids[:maxFilterIDs])
		ids = ids[maxFilterIDs:]
	}
	return append(out, ids)
}

// networkCache is the last network listing. Networks change rarely, so
// they are listed again only when the watcher says so (a network event,
// the first or the periodic listing, a failure or a reconnection) or when
// a service is on a network the last listing did not answer for.
type networkCache struct {
	list []network.Summary
	// answered holds the IDs of the networks listed, and of those the
	// services were on when they were listed, listed or not (a local
	// network such as host is never listed).
	answered map[string]bool
	listedAt time.Time
	stale    bool
}

// covers reports whether the cached listing answers for every network the
// services are on.
func (c *networkCache) covers(services []swarm.Service) bool {
	if c.stale || c.answered == nil {
		return false
	}
	for i := range services {
		for _, id := range serviceNetworkIDs(&services[i]) {
			if !c.answered[id] {
				return false
			}
		}
	}
	return true
}

// networks returns the engine's networks: listed when force is set or the
// cache does not cover the services, the cached ones otherwise. All of
// them, not only the overlays services use: a gateway on a network of the
// engine that no service shares (a compose project's bridge) is on the
// engine, not outside it, and must not take the services' overlays for
// reachable.
func (l lister) networks(ctx context.Context, c *networkCache, services []swarm.Service, force bool) ([]network.Summary, error) {
	if !force && c.covers(services) {
		return c.list, nil
	}
	var list []network.Summary
	err := l.Call(ctx, "GET /networks", func(ctx context.Context) (err error) {
		list, err = l.api.NetworkList(ctx, network.ListOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	answered := make(map[string]bool, len(list))
	for _, n := range list {
		answered[n.ID] = true
	}
	for i := range services {
		for _, id := range serviceNetworkIDs(&services[i]) {
			answered[id] = true
		}
	}
	*c = networkCache{list: list, answered: answered, listedAt: l.now()}
	return list, nil
}

// serviceNetworkIDs are the networks a service's tasks and virtual IPs are
// on.
func serviceNetworkIDs(svc *swarm.Service) []string {
	ids := make([]string, 0, len(svc.Spec.TaskTemplate.Networks)+len(svc.Endpoint.VirtualIPs))
	for _, n := range svc.Spec.TaskTemplate.Networks {
		ids = append(ids, n.Target)
	}
	for _, v := range svc.Endpoint.VirtualIPs {
		ids = append(ids, v.NetworkID)
	}
	return ids
}

// subscribe opens the stream of the swarm's service and network events
// (scope swarm: not the connect and disconnect events of every local
// container). It does not block: the client waits for the engine's answer
// in its own goroutine, and ctx ends the stream.
func subscribe(ctx context.Context, api dockerAPI) (<-chan events.Message, <-chan error) {
	return api.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ServiceEventType)),
		filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("scope", "swarm"),
	)})
}
