package caddymodule

// This file holds what the modules share besides the watcher: its
// autoscaler, started and stopped with it, and the peers it decides with.

import (
	"context"
	"errors"
	"os"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// shared is what modules with equal discovery options share, kept across
// reloads in watchers: the watcher and its autoscaler.
type shared struct {
	watcher *discovery.Watcher
	scaler  *scaling.Autoscaler // nil with scaling off
	peers   *peerGroup          // nil without the peers option
	stop    context.CancelFunc  // ends the autoscaler's Run
	done    chan struct{}       // closed when Run has returned
}

// share returns w with its autoscaler started (unless scaling is off).
func (d *Discovery) share(w *discovery.Watcher) (*shared, error) {
	sh := &shared{watcher: w}
	if d.Scaling == off {
		return sh, nil
	}
	gateway, _ := os.Hostname()
	// Peers may ask for this gateway's report as soon as they start,
	// before the autoscaler exists: until then it has no load.
	var self atomic.Pointer[scaling.Autoscaler]
	report := func() scaling.Report {
		if a := self.Load(); a != nil {
			return a.Report()
		}
		return scaling.Report{Gateway: gateway}
	}
	var peers scaling.Peers = scaling.Single{}
	log := caddy.Log().Named("swarm.scaling")
	if d.Peers != nil {
		pg, err := startPeers(d.Peers, report, log.Named("peers"))
		if err != nil {
			return nil, errors.Join(err, w.Destruct())
		}
		sh.peers, peers = pg, pg.group
	}
	a := scaling.New(scaling.Options{
		Services: func() []scaling.Service { return w.Table().ScaledServices() },
		Scaler:   w,
		Peers:    peers,
		Gateway:  gateway,
		Log:      log,
	})
	self.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	sh.scaler, sh.stop, sh.done = a, cancel, make(chan struct{})
	go func() {
		defer close(sh.done)
		a.Run(ctx)
	}()
	return sh, nil
}

// Destruct stops the autoscaler, then the watcher. It implements
// caddy.Destructor: the last module to release them calls it.
func (sh *shared) Destruct() error {
	if sh.stop != nil {
		sh.stop()
		<-sh.done
	}
	if sh.peers != nil {
		sh.peers.Stop()
	}
	return sh.watcher.Destruct()
}

var _ caddy.Destructor = (*shared)(nil)
