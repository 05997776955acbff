package caddymodule

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/events"
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
// ones (which refuse anything below 1.44) work.
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

var _ dockerAPI = (*client.Client)(nil)
