package caddymodule

// This file holds the peers option: how the gateways of one swarm find
// each other and agree on which of them scales (package scaling/peers).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling/peers"
)

// PeersConfig says how this gateway finds the swarm's other gateways, so
// that one of them decides the replica counts from the load of all (see
// docs/peers.md). Without it, a gateway decides alone from its own load:
// right for one gateway, wrong for several.
type PeersConfig struct {
	// The name whose addresses are the gateways: `tasks.<gateway
	// service>` on their shared network (`tasks.faas_gateway`).
	// Required.
	Name string `json:"name,omitempty"`

	// The port each gateway serves its load on, over mutual TLS, to the
	// others. It is not published. Default: 8444
	Port uint16 `json:"port,omitempty"`

	// The deployment's CA, and this gateway's certificate and key, which
	// needs the serverAuth and clientAuth usages and server_name among
	// its DNS names (scripts/certs.sh makes one). Default: tls_ca,
	// tls_cert and tls_key, the Docker API's (the first engine's, with
	// several; without them, DOCKER_CERT_PATH's ca.pem, cert.pem and
	// key.pem).
	TLSCA   string `json:"tls_ca,omitempty"`
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`

	// The DNS name every gateway's certificate carries, which a peer's
	// must. Default: faas-gateway
	ServerName string `json:"server_name,omitempty"`

	// How often each gateway resolves the name and reads the others'
	// load; a gateway silent for three of them is gone. Default: 1s
	Interval caddy.Duration `json:"interval,omitempty"`
}

// peersEnv names the environment variable that gives the peers option's
// name when no peers option is set, as a stack file's environment can
// for every module at once.
const peersEnv = "FAAS_PEERS"

// dockerCertPathEnv names the docker CLI's directory of the Docker API's
// TLS files, which the engine client reads when no TLS option is set.
const dockerCertPathEnv = "DOCKER_CERT_PATH"

// setPeersDefaults fills in the peers option from FAAS_PEERS when it is
// unset, and its TLS files from the Docker API's: its options, or, as the
// docker CLI and the engine client take them, DOCKER_CERT_PATH's ca.pem,
// cert.pem and key.pem (how stack.cluster.yml gives them).
func (d *Discovery) setPeersDefaults() {
	if d.Peers == nil {
		name := os.Getenv(peersEnv)
		if name == "" {
			return
		}
		d.Peers = &PeersConfig{Name: name}
	}
	p := *d.Peers // the options' own copy: a shallow copy of d shares the pointer
	d.Peers = &p
	ca, cert, key := d.TLSCA, d.TLSCert, d.TLSKey
	if len(d.Engines) > 0 {
		e := d.Engines[0]
		ca, cert, key = e.TLSCA, e.TLSCert, e.TLSKey
	} else if dir := os.Getenv(dockerCertPathEnv); ca == "" && cert == "" && key == "" && dir != "" {
		ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	}
	if p.TLSCA == "" && p.TLSCert == "" && p.TLSKey == "" {
		p.TLSCA, p.TLSCert, p.TLSKey = ca, cert, key
	}
}

// validatePeers checks the peers option once its defaults are set.
func (d *Discovery) validatePeers() error {
	p := d.Peers
	if p == nil {
		return nil
	}
	switch {
	case p.Name == "":
		return errors.New("peers: a name is required (tasks.<gateway service>)")
	case p.TLSCA == "" || p.TLSCert == "" || p.TLSKey == "":
		return errors.New("peers: tls_ca, tls_cert and tls_key are required (the gateways authenticate each other with the deployment's CA); set them, or the Docker API's")
	case p.Interval < 0:
		return fmt.Errorf("peers: interval must be positive, got %v", time.Duration(p.Interval))
	case d.Scaling == off:
		return errors.New("peers: the gateways exchange their load for scaling, which is off")
	}
	return nil
}

// peerGroup is a started peer exchange and what stops it.
type peerGroup struct {
	group *peers.Group
	stop  context.CancelFunc
	done  chan struct{}
}

// startPeers returns the peer exchange of the peers option, serving self,
// started in the background: until it listens (the port may still be the
// last config's, during a reload) and has polled, it does not decide.
func startPeers(p *PeersConfig, self func() scaling.Report, log *zap.Logger) (*peerGroup, error) {
	g, err := peers.New(peers.Config{
		Name: p.Name, Port: p.Port, CAFile: p.TLSCA, CertFile: p.TLSCert, KeyFile: p.TLSKey,
		ServerName: p.ServerName, Interval: time.Duration(p.Interval), Logger: log,
	}, self)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	pg := &peerGroup{group: g, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(pg.done)
		for warned := false; ; warned = true {
			err := g.Start(ctx)
			if err == nil {
				return
			}
			if !warned {
				log.Warn("peers: retrying until the port is free", zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return pg, nil
}

// Stop ends the peer exchange and waits for its goroutines.
func (pg *peerGroup) Stop() {
	pg.stop()
	<-pg.done
	pg.group.Stop()
}

// unmarshalPeers parses a peers subdirective: the name, and its optional
// block.
func (o *Discovery) unmarshalPeers(d *caddyfile.Dispenser) error {
	p := new(PeersConfig)
	if !d.Args(&p.Name) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	tls := [3]*string{&p.TLSCA, &p.TLSCert, &p.TLSKey}
	err := eachOption(d, d.Nesting(), "peers: option", tls, nil, func(opt string) error {
		var err error
		switch opt {
		case "port":
			var v string
			if err = oneArg(d, &v); err == nil {
				var n uint64
				if _, e := fmt.Sscan(v, &n); e != nil || n == 0 || n > 65535 {
					return d.Errf("peers: port '%s': want 1 to 65535", v)
				}
				p.Port = uint16(n)
			}
		case "server_name":
			err = oneArg(d, &p.ServerName)
		case "interval":
			err = durationArg(d, &p.Interval)
		default:
			return d.Errf("peers: unrecognized option '%s'", opt)
		}
		return err
	})
	if err != nil {
		return err
	}
	o.Peers = p
	return nil
}
