package caddymodule

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Discovery holds the options that say how services are discovered. The
// `swarm` upstream source and the `swarm_route` handler both embed it, with
// the same JSON keys and Caddyfile subdirectives; modules with equal
// Discovery options share one watcher.
type Discovery struct {
	// Address of the Docker Engine API, as in DOCKER_HOST:
	// `unix:///var/run/docker.sock`, `tcp://manager:2376`.
	// The gateway only reads services, tasks, networks and events, all
	// swarm-manager endpoints. Default: the DOCKER_HOST environment
	// variable, else the local socket.
	DockerHost string `json:"docker_host,omitempty"`

	// CA certificate file that the Docker API's server certificate must
	// chain to. Setting any of the three TLS options uses TLS. Default:
	// DOCKER_CERT_PATH/ca.pem when DOCKER_TLS_VERIFY is set.
	TLSCA string `json:"tls_ca,omitempty"`

	// Client certificate file presented to the Docker API (mutual TLS).
	TLSCert string `json:"tls_cert,omitempty"`

	// Private key file of the client certificate.
	TLSKey string `json:"tls_key,omitempty"`

	// Prefix of the service labels the gateway reads: `<prefix>.enable`,
	// `<prefix>.path`, `<prefix>.port`, `<prefix>.strip_prefix`,
	// `<prefix>.network`, `<prefix>.lb`. Default: `faas`
	LabelPrefix string `json:"label_prefix,omitempty"`

	// Network to reach services on, when a service is attached to several
	// networks and its `network` label does not say. Default: the one
	// network the service shares with the gateway.
	Network string `json:"network,omitempty"`

	// How to reach a service: `tasks` sends each request to one running
	// replica, chosen by reverse_proxy's load-balancing policy, with
	// retries and health checks per replica; `vip` sends it to the
	// service's virtual IP and lets swarm's IPVS balance (needs IPVS in the
	// kernel). A service's `lb` label overrides it. Default: `tasks`
	LB string `json:"lb,omitempty"`

	// Interval of the full resynchronisation that backs up the event
	// stream, and of polling when events are off. Default: 30s
	ResyncInterval caddy.Duration `json:"resync_interval,omitempty"`

	// While a service converges (scaling, rolling update, tasks starting
	// or stopping), its tasks are re-listed at this interval until it
	// settles, so replicas join and leave within it. Default: 250ms
	ConvergeInterval caddy.Duration `json:"converge_interval,omitempty"`

	// Do not subscribe to the Docker event stream; poll every
	// resync_interval instead. For Docker API proxies that block /events.
	// Default: false
	PollOnly bool `json:"poll_only,omitempty"`

	// watcher is the shared watcher these options attached to.
	watcher *watcher
}

// Defaults.
const (
	defaultLabelPrefix      = "faas"
	defaultResyncInterval   = 30 * time.Second
	defaultConvergeInterval = 250 * time.Millisecond
)

// provision fills in defaults and validates the options.
func (d *Discovery) provision() error {
	if d.LabelPrefix == "" {
		d.LabelPrefix = defaultLabelPrefix
	}
	if d.LB == "" {
		d.LB = lbTasks
	}
	lb, err := parseLBMode(d.LB)
	if err != nil {
		return fmt.Errorf("lb %q: %w", d.LB, err)
	}
	d.LB = lb
	if d.ResyncInterval == 0 {
		d.ResyncInterval = caddy.Duration(defaultResyncInterval)
	}
	if d.ConvergeInterval == 0 {
		d.ConvergeInterval = caddy.Duration(defaultConvergeInterval)
	}
	if d.ResyncInterval < 0 || d.ConvergeInterval < 0 {
		return fmt.Errorf("resync_interval and converge_interval must be positive")
	}
	if (d.TLSCert == "") != (d.TLSKey == "") {
		return fmt.Errorf("tls_cert and tls_key must be set together")
	}
	return nil
}

// attach fills in defaults, validates, and attaches to the shared watcher
// for these options, starting it if needed. It does not wait for Docker.
func (d *Discovery) attach(ctx caddy.Context) error {
	if err := d.provision(); err != nil {
		return err
	}
	w, err := acquireWatcher(ctx, *d)
	if err != nil {
		return err
	}
	d.watcher = w
	return nil
}

// detach releases the shared watcher; the last user stops it. It is safe
// after a failed or absent attach.
func (d *Discovery) detach() error {
	if d.watcher == nil {
		return nil
	}
	d.watcher = nil
	return releaseWatcher(*d)
}

// key identifies the watcher these options need, for sharing.
func (d Discovery) key() string {
	b, _ := json.Marshal(d) // a struct of strings, durations and a bool cannot fail
	return "swarm:" + string(b)
}

// acquireWatcher returns the process-wide watcher for d, starting it if
// it is the first user. Every successful call must be paired with
// releaseWatcher.
func acquireWatcher(ctx caddy.Context, d Discovery) (*watcher, error) {
	val, _, err := watchers.LoadOrNew(d.key(), func() (caddy.Destructor, error) {
		api, err := newDockerClient(d)
		if err != nil {
			return nil, err
		}
		// The watcher outlives this config's context: it is kept across
		// reloads and stopped by Destruct when its last user is cleaned up.
		// Its logger is named for the module, not for one config.
		return startWatcher(api, d, ctx.Logger().Named("watcher")), nil
	})
	if err != nil {
		return nil, err
	}
	return val.(*watcher), nil
}

// releaseWatcher drops one reference to d's watcher; the last one stops it.
func releaseWatcher(d Discovery) error {
	_, err := watchers.Delete(d.key())
	return err
}

// watchers holds one watcher per distinct Discovery, shared by every module
// instance that uses it and kept across config reloads (Caddy provisions
// the new config before it cleans up the old one, so the count never drops
// to zero on a reload).
var watchers = caddy.NewUsagePool()
