package caddymodule

// This file holds every call the module makes to the Docker Engine API: the
// client, the listings that make a swarmState, and the event stream.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// dockerAPI is the part of the Docker Engine API the module uses. Keeping
// it narrow documents, and lets tests fake, exactly what is called:
// HEAD or GET /_ping (version negotiation), GET /services, GET /tasks,
// GET /networks and GET /events.
type dockerAPI interface {
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	DaemonHost() string
	Close() error
}

// newDockerClient connects the way the docker CLI does: DOCKER_HOST,
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from the environment, overridden by
// the module's own options when they are set. The API version is negotiated
// with the engine, never pinned, so both old engines (API 1.41) and current
// ones (which refuse anything below 1.44) work. The client negotiates on
// its first call and is not safe for concurrent calls until then, so the
// watcher opens the event stream only after a listing has succeeded.
func newDockerClient(d Discovery) (dockerAPI, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if d.DockerHost != "" {
		opts = append(opts, client.WithHost(d.DockerHost))
	}
	if d.TLSCert != "" || d.TLSKey != "" || d.TLSCA != "" {
		opts = append(opts, client.WithTLSClientConfig(d.TLSCA, d.TLSCert, d.TLSKey))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	return cli, nil
}

// lister makes the listings a route table is built from. Each call has its
// own time limit, so a slow engine slows a resync down without making every
// resync fail.
type lister struct {
	api         dockerAPI
	labelPrefix string
	timeout     time.Duration
}

// listAll lists the opted-in services, their running tasks and the overlay
// networks: three calls, however many services there are.
func (l lister) listAll(ctx context.Context) (swarmState, error) {
	var st swarmState
	err := l.call(ctx, "GET /services", func(ctx context.Context) (err error) {
		st.Services, err = l.api.ServiceList(ctx, swarm.ServiceListOptions{
			Filters: filters.NewArgs(filters.Arg("label", l.labelPrefix+"."+labelEnable)),
			Status:  true,
		})
		return err
	})
	if err != nil || len(st.Services) == 0 {
		return st, err
	}
	if st.Tasks, err = l.listTasks(ctx); err != nil {
		return st, err
	}
	err = l.call(ctx, "GET /networks", func(ctx context.Context) (err error) {
		st.Networks, err = l.api.NetworkList(ctx, network.ListOptions{
			Filters: filters.NewArgs(filters.Arg("driver", "overlay")),
		})
		return err
	})
	return st, err
}

// listTasks lists the tasks meant to be running, of the given services
// only, or of all services when none is given.
func (l lister) listTasks(ctx context.Context, serviceIDs ...string) (tasks []swarm.Task, err error) {
	f := filters.NewArgs(filters.Arg("desired-state", string(swarm.TaskStateRunning)))
	for _, id := range serviceIDs {
		f.Add("service", id)
	}
	err = l.call(ctx, "GET /tasks", func(ctx context.Context) (err error) {
		tasks, err = l.api.TaskList(ctx, swarm.TaskListOptions{Filters: f})
		return err
	})
	return tasks, err
}

// call runs one API call within the time limit, and names the endpoint
// (and the limit, when it was hit) in its error.
func (l lister) call(ctx context.Context, endpoint string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	err := f(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer within api_timeout %v: %w", endpoint, l.timeout, err)
	default:
		return fmt.Errorf("%s: %w", endpoint, err)
	}
}

// subscribe opens the stream of service events. It does not block: the
// client waits for the engine's answer in its own goroutine, and ctx ends
// the stream.
func subscribe(ctx context.Context, api dockerAPI) (<-chan events.Message, <-chan error) {
	return api.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ServiceEventType)),
	)})
}

var _ dockerAPI = (*client.Client)(nil)
