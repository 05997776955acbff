package caddymodule

// This file holds the discovery options that every module takes, their
// defaults and their validation (the one place where each is checked),
// and the watchers they share.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/containersource"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/swarmsource"
	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// Discovery holds the options that say how services are discovered. The
// `swarm` upstream source, the `swarm_route`, `swarm_ready` and
// `swarm_status` handlers, the `swarm_host` matcher and the `swarm` TLS
// permission all embed it, with the same JSON keys and Caddyfile
// subdirectives; modules with equal Discovery options share one watcher.
type Discovery struct {
	// Address of the Docker Engine API, as in DOCKER_HOST:
	// `unix:///var/run/docker.sock`, `tcp://manager:2376`.
	// The gateway only reads services, tasks, containers, networks and
	// events. Default: the DOCKER_HOST environment variable, else the
	// local socket.
	DockerHost string `json:"docker_host,omitempty"`

	// CA certificate file that the Docker API's server certificate must
	// chain to. Setting any of the three TLS options uses TLS. Default:
	// DOCKER_CERT_PATH/ca.pem when DOCKER_TLS_VERIFY is set.
	TLSCA string `json:"tls_ca,omitempty"`

	// Client certificate file presented to the Docker API (mutual TLS).
	TLSCert string `json:"tls_cert,omitempty"`

	// Private key file of the client certificate.
	TLSKey string `json:"tls_key,omitempty"`

	// Prefix of the service and container labels the gateway reads: `<prefix>.enable`,
	// `<prefix>.host`, `<prefix>.path`, `<prefix>.port`,
	// `<prefix>.strip_prefix`, `<prefix>.policy`, `<prefix>.network`,
	// `<prefix>.lb`, and a named route's `<prefix>.routes.<name>.host`,
	// `.path`, `.port`, `.strip_prefix` and `.policy`. Default: `faas`
	LabelPrefix string `json:"label_prefix,omitempty"`

	// Network to reach a service on when it shares several networks with
	// the gateway and its `network` label does not say: its full name, or
	// its name within the service's stack. A service that is not on it is
	// reached on another network it shares with the gateway, as if this
	// were unset. Default: the one network the service shares with the
	// gateway, else the first by name (with a warning).
	Network string `json:"network,omitempty"`

	// How to reach a service: `tasks` sends each request to one running
	// replica, chosen by reverse_proxy's load-balancing policy, with
	// retries and health checks per replica; `local` does the same among
	// the replicas on the gateway's own node (node_id) while at least one
	// runs there, and among all of them when none does; `vip` sends it to
	// the service's virtual IP and lets swarm's IPVS balance (needs IPVS in
	// the kernel). A service's `lb` label overrides it. Default: `tasks`
	LB string `json:"lb,omitempty"`

	// ID of the swarm node the gateway runs on, which `lb local` compares
	// with the tasks' nodes. The Docker API a gateway reads may be another
	// node's (a manager's, through docker-api), so it is not asked: the
	// stack files give each gateway task its node's ID in its environment,
	// `NODE_ID: "{{.Node.ID}}"`. Default: the NODE_ID environment variable
	NodeID string `json:"node_id,omitempty"`

	// Interval of the full resynchronisation that backs up the event
	// stream, and of polling when events are off. Default: 30s
	ResyncInterval caddy.Duration `json:"resync_interval,omitempty"`

	// While a service converges (scaling, rolling update, tasks starting
	// or stopping), its tasks are re-listed at this interval until it
	// settles, so replicas join and leave within it. Default: 250ms
	ConvergeInterval caddy.Duration `json:"converge_interval,omitempty"`

	// Time limit of each Docker API list call (services, tasks, networks,
	// containers). A call that takes longer fails, is logged with its
	// endpoint, and is retried with backoff while the last routes keep
	// being served.
	// Default: 10s
	APITimeout caddy.Duration `json:"api_timeout,omitempty"`

	// Do not subscribe to the Docker event stream; poll every
	// resync_interval instead. For Docker API proxies that block /events.
	// Default: false
	PollOnly bool `json:"poll_only,omitempty"`

	// Whether standalone containers (docker run, docker compose) that opt
	// in by label are routed beside the swarm services, from the same
	// labels: `on` or `off`. The containers of swarm tasks are always the
	// swarm services'. On an engine that is no swarm manager, only
	// containers are routed. See docs/containers.md. Default: `on`
	Containers string `json:"containers,omitempty"`

	// Whether services with scaling labels (`faas.scale.*`) are scaled:
	// `on` or `off`. On, the gateway puts a service to sleep after its
	// idle time, wakes it on a request (swarm_route holds the request
	// meanwhile, up to wake_timeout) and follows its load between its
	// minimum and maximum; a service without the labels is never scaled.
	// Off, no replica count is ever written. See docs/scaling.md.
	// Default: `on`
	Scaling string `json:"scaling,omitempty"`

	// Engines the gateway reads, instead of the one engine of docker_host
	// and tls_* (which must then be unset): each is watched on its own and
	// their routes merge into one table. See docs/engines.md. Default:
	// the one engine of docker_host, named `default`
	Engines []EngineConfig `json:"engines,omitempty"`

	// How this gateway finds the swarm's other gateways, so that one of
	// them scales from the load of all. See docs/peers.md. Default: the
	// name in the FAAS_PEERS environment variable (`tasks.faas_gateway`)
	// with the other options' defaults, else none: a gateway decides
	// alone
	Peers *PeersConfig `json:"peers,omitempty"`

	// watcher is the shared watcher these options attached to, and
	// scaler its autoscaler (nil with scaling off). They are set once, by
	// Provision, and never cleared: requests of an old config may still
	// be running (retrying, say) after Caddy cleaned it up.
	watcher *discovery.Watcher
	scaler  *scaling.Autoscaler
	// released is set when Cleanup has given the watcher back.
	released bool
}

// Defaults.
const (
	defaultLabelPrefix      = "faas"
	defaultResyncInterval   = 30 * time.Second
	defaultConvergeInterval = 250 * time.Millisecond
	defaultAPITimeout       = 10 * time.Second
	on, off                 = "on", "off"
)

// provision fills in the defaults and validates.
func (d *Discovery) provision() error {
	d.setDefaults()
	return d.validate()
}

// setDefaults fills in the options left unset (empty or zero).
func (d *Discovery) setDefaults() {
	if d.LabelPrefix == "" {
		d.LabelPrefix = defaultLabelPrefix
	}
	if d.LB == "" {
		d.LB = labels.LBTasks
	}
	if d.NodeID == "" {
		d.NodeID = os.Getenv("NODE_ID")
	}
	if d.ResyncInterval == 0 {
		d.ResyncInterval = caddy.Duration(defaultResyncInterval)
	}
	if d.ConvergeInterval == 0 {
		d.ConvergeInterval = caddy.Duration(defaultConvergeInterval)
	}
	if d.APITimeout == 0 {
		d.APITimeout = caddy.Duration(defaultAPITimeout)
	}
	if d.Containers == "" {
		d.Containers = on
	}
	if d.Scaling == "" {
		d.Scaling = on
	}
	d.setEngineDefaults()
	d.setPeersDefaults()
}

// validate checks the options once their defaults are set, and puts the
// lb mode in its canonical form. Every rule on an option is here, whether
// the option came from JSON or from the Caddyfile.
func (d *Discovery) validate() error {
	var errs []error
	lb, err := labels.ParseLBMode(d.LB)
	if err != nil {
		errs = append(errs, fmt.Errorf("lb %q: %w", d.LB, err))
	}
	d.LB = lb
	for name, v := range map[string]caddy.Duration{
		"resync_interval":   d.ResyncInterval,
		"converge_interval": d.ConvergeInterval,
		"api_timeout":       d.APITimeout,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", name, time.Duration(v)))
		}
	}
	for name, v := range map[string]string{"containers": d.Containers, "scaling": d.Scaling} {
		if v != on && v != off {
			errs = append(errs, fmt.Errorf("%s %q: want on or off", name, v))
		}
	}
	if (d.TLSCert == "") != (d.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key must be set together"))
	}
	errs = append(errs, d.validateEngines()...)
	errs = append(errs, d.validatePeers())
	return errors.Join(errs...)
}

// key identifies the watcher these options need, for sharing.
func (d Discovery) key() string {
	b, _ := json.Marshal(d) // a struct of strings, durations, bools and slices of them cannot fail
	return "swarm:" + string(b)
}

// sourceOptions are the swarm source's options of these discovery options,
// for engine e.
func (d Discovery) sourceOptions(e EngineConfig) swarmsource.Options {
	return swarmsource.Options{
		Conn:        e.conn(),
		LabelPrefix: d.LabelPrefix, Network: d.Network, LB: d.LB, NodeID: d.NodeID,
		ResyncInterval: time.Duration(d.ResyncInterval), ConvergeInterval: time.Duration(d.ConvergeInterval),
		APITimeout: time.Duration(d.APITimeout), PollOnly: d.PollOnly, PublishHost: e.publishHost(),
	}
}

// containerOptions are the container source's options of these discovery
// options, for engine e.
func (d Discovery) containerOptions(e EngineConfig) containersource.Options {
	return containersource.Options{
		Conn:        e.conn(),
		LabelPrefix: d.LabelPrefix, Network: d.Network,
		ResyncInterval: time.Duration(d.ResyncInterval), APITimeout: time.Duration(d.APITimeout), PollOnly: d.PollOnly,
		PublishHost: e.publishHost(),
	}
}

// sources are the sources these options ask for, for engine e: the
// swarm's, and the containers' unless they are off.
func (d Discovery) sources(e EngineConfig) ([]discovery.Source, error) {
	swarm, err := swarmsource.New(d.sourceOptions(e))
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Name, err)
	}
	srcs := []discovery.Source{swarm}
	if d.Containers != off {
		cs, err := containersource.New(d.containerOptions(e))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("engine %s: %w", e.Name, err), swarm.Close())
		}
		srcs = append(srcs, cs)
	}
	return srcs, nil
}

// watchers holds one watcher per distinct Discovery, shared by every module
// instance that uses it and kept across config reloads (Caddy provisions
// the new config before it cleans up the old one, so the count never drops
// to zero on a reload).
var watchers = caddy.NewUsagePool()

// Provision fills in defaults, validates, and attaches to the shared
// watcher for these options, starting it if needed. Validation comes
// first, since attaching starts discovery. It does not wait for Docker.
// Modules that embed Discovery and provision nothing else use it as it is.
func (d *Discovery) Provision(caddy.Context) error {
	if err := d.provision(); err != nil {
		return err
	}
	val, _, err := watchers.LoadOrNew(d.key(), func() (caddy.Destructor, error) {
		var engines []discovery.EngineSources
		for _, e := range d.engineConfigs() {
			srcs, err := d.sources(e)
			if err != nil {
				for _, es := range engines {
					for _, src := range es.Sources {
						_ = src.Close()
					}
				}
				return nil, err
			}
			engines = append(engines, discovery.EngineSources{Name: e.Name, Sources: srcs})
		}
		// The watcher outlives this config: it is kept across reloads and
		// stopped by Destruct when its last user is cleaned up.
		w := discovery.NewEngines(engines, discovery.Options{Log: func() *zap.Logger { return caddy.Log().Named("swarm") }})
		w.Start()
		return d.share(w)
	})
	if err != nil {
		return err
	}
	sh := val.(*shared)
	d.watcher, d.scaler = sh.watcher, sh.scaler
	return nil
}

// Cleanup releases the shared watcher; the last user stops it. It is safe
// after a failed or absent Provision, and more than once. The watcher
// stays readable: a released watcher keeps its last table, so requests
// still in flight finish with it.
func (d *Discovery) Cleanup() error {
	if d.watcher == nil || d.released {
		return nil
	}
	d.released = true
	_, err := watchers.Delete(d.key())
	return err
}

// described returns the watcher (and its autoscaler) that the routes
// API, the metrics and the status page describe: the one of the first
// discovery configuration, by key (all modules share one unless their
// discovery options differ), or nil when none runs. It is the one place
// that decides.
func described() *shared {
	var first string
	var fs *shared
	watchers.Range(func(k, v any) bool {
		if sh, ok := v.(*shared); ok {
			if key := k.(string); fs == nil || key < first {
				first, fs = key, sh
			}
		}
		return true
	})
	return fs
}

// describedWatcher is the described watcher, nil when none runs.
func describedWatcher() *discovery.Watcher {
	if sh := described(); sh != nil {
		return sh.watcher
	}
	return nil
}

// describedScaler is the described watcher's autoscaler, nil when none
// runs or its scaling is off.
func describedScaler() *scaling.Autoscaler {
	if sh := described(); sh != nil {
		return sh.scaler
	}
	return nil
}
