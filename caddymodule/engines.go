package caddymodule

// This file holds the engines option: several Docker engines read by one
// gateway, each with its own address, TLS files and way of being reached,
// their validation, and the one-engine list the top-level options mean.

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// EngineConfig is one Docker engine of a gateway that reads several
// (see docs/engines.md).
type EngineConfig struct {
	// Name of the engine in the routes API, the status page, the metrics
	// and the logs: lower-case letters, digits, `_` and `-`. Required,
	// and unique among the engines.
	Name string `json:"name"`

	// Address of the engine's Docker API: `unix:///var/run/docker.sock`,
	// `tcp://green:2376`. Required.
	DockerHost string `json:"docker_host"`

	// CA certificate file that the engine's server certificate must chain
	// to. Setting any of the three TLS options uses TLS.
	TLSCA string `json:"tls_ca,omitempty"`

	// Client certificate file presented to the engine (mutual TLS).
	TLSCert string `json:"tls_cert,omitempty"`

	// Private key file of the client certificate.
	TLSKey string `json:"tls_key,omitempty"`

	// How the gateway reaches the engine's containers and services:
	// `networks`, at their addresses on networks the gateway shares (the
	// gateway's own engine, as with one engine), or `published`, at the
	// ports they publish on the engine's host (publish_host). At most one
	// engine is reached on networks: subnets of different engines
	// overlap, so an address on one tells nothing of the others.
	// Default: `networks` for a unix socket, `published` for tcp://
	Reach string `json:"reach,omitempty"`

	// Host (name or IP address) at which the ports the engine's
	// containers and services publish are reached, with reach
	// `published`. Default: the host of a tcp:// docker_host
	PublishHost string `json:"publish_host,omitempty"`

	// fromEnv is set on the one engine of the top-level options, which
	// takes what they leave unset from the environment.
	fromEnv bool
}

// The values of reach, and the name of the one engine of the top-level
// options.
const (
	reachNetworks     = "networks"
	reachPublished    = "published"
	defaultEngineName = "default"
)

// engineName is what an engine's name may be.
var engineName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// setEngineDefaults fills in each engine's reach and publish host.
func (d *Discovery) setEngineDefaults() {
	for i := range d.Engines {
		e := &d.Engines[i]
		if e.Reach == "" {
			e.Reach = reachNetworks
			if strings.HasPrefix(e.DockerHost, "tcp://") || e.PublishHost != "" {
				e.Reach = reachPublished
			}
		}
		if e.Reach == reachPublished && e.PublishHost == "" {
			if u, err := url.Parse(e.DockerHost); err == nil && u.Scheme == "tcp" {
				e.PublishHost = u.Hostname()
			}
		}
	}
}

// validateEngines checks the engines option, once its defaults are set.
func (d *Discovery) validateEngines() []error {
	if len(d.Engines) == 0 {
		return nil
	}
	var errs []error
	if d.DockerHost != "" || d.TLSCA != "" || d.TLSCert != "" || d.TLSKey != "" {
		errs = append(errs, errors.New("docker_host and tls_* are the one engine's options: with engines, give each engine its own"))
	}
	seen := make(map[string]bool)
	var onNetworks []string
	for _, e := range d.Engines {
		what := fmt.Sprintf("engine %q", e.Name)
		switch {
		case !engineName.MatchString(e.Name):
			errs = append(errs, fmt.Errorf("%s: a name is lower-case letters, digits, _ and - only", what))
		case seen[e.Name]:
			errs = append(errs, fmt.Errorf("%s given twice", what))
		}
		seen[e.Name] = true
		if u, err := url.Parse(e.DockerHost); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("%s: docker_host %q: want an address such as unix:///var/run/docker.sock or tcp://host:2376", what, e.DockerHost))
		}
		if (e.TLSCert == "") != (e.TLSKey == "") {
			errs = append(errs, fmt.Errorf("%s: tls_cert and tls_key must be set together", what))
		}
		switch e.Reach {
		case reachNetworks:
			onNetworks = append(onNetworks, e.Name)
			if e.PublishHost != "" {
				errs = append(errs, fmt.Errorf("%s: publish_host is for reach published, not networks", what))
			}
		case reachPublished:
			if e.PublishHost == "" {
				errs = append(errs, fmt.Errorf("%s: reach published needs publish_host (the host its published ports are on)", what))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: reach %q: want networks or published", what, e.Reach))
		}
	}
	if len(onNetworks) > 1 {
		errs = append(errs, fmt.Errorf("engines %s are all reached on networks: at most one engine is the gateway's own (give the others reach published)", strings.Join(onNetworks, ", ")))
	}
	return errs
}

// engineConfigs are the engines these options read: the engines option,
// else the one engine of the top-level options, named "default" and
// reached on networks as ever.
func (d Discovery) engineConfigs() []EngineConfig {
	if len(d.Engines) > 0 {
		return d.Engines
	}
	return []EngineConfig{{Name: defaultEngineName, DockerHost: d.DockerHost, TLSCA: d.TLSCA, TLSCert: d.TLSCert, TLSKey: d.TLSKey, Reach: reachNetworks, fromEnv: true}}
}

// conn is how to reach the engine's API: the environment's DOCKER_*
// variables count for the one engine of the top-level options only.
func (e EngineConfig) conn() engine.Conn {
	return engine.Conn{DockerHost: e.DockerHost, TLSCA: e.TLSCA, TLSCert: e.TLSCert, TLSKey: e.TLSKey, NoEnv: !e.fromEnv}
}

// publishHost is the host of published ports, "" when the engine is
// reached on networks.
func (e EngineConfig) publishHost() string {
	if e.Reach == reachPublished {
		return e.PublishHost
	}
	return ""
}
