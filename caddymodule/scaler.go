package caddymodule

// This file holds what the modules share besides the watcher: its
// autoscaler, started and stopped with it, and the peers it decides with.

import (
	"context"
	"errors"
	"os"

	"github.com/caddyserver/caddy/v2"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// shared is what modules with equal discovery options share, kept across
// reloads in watchers: the watcher and its autoscaler.
type shared struct {
	watcher *discovery.Watcher
	scaler  *scaling.Autoscaler // nil with scaling off
	stop    context.CancelFunc  // ends the autoscaler's Run
	done    chan struct{}       // closed when Run has returned
}

// peersFor returns the peers the autoscaler of d's watcher decides with;
// self is this gateway's report, which they serve to the others. This is
// where a peer exchange (package scaling/peers) plugs in; the default is
// a gateway alone, which always decides.
var peersFor = func(d *Discovery, self func() scaling.Report) (scaling.Peers, error) {
	return scaling.Single{}, nil
}

// share returns w with its autoscaler started (unless scaling is off).
func (d *Discovery) share(w *discovery.Watcher) (*shared, error) {
	sh := &shared{watcher: w}
	if d.Scaling == off {
		return sh, nil
	}
	var a *scaling.Autoscaler
	peers, err := peersFor(d, func() scaling.Report { return a.Report() })
	if err != nil {
		return nil, errors.Join(err, w.Destruct())
	}
	gateway, _ := os.Hostname()
	a = scaling.New(scaling.Options{
		Services: func() []scaling.Service { return w.Table().ScaledServices() },
		Scaler:   w,
		Peers:    peers,
		Gateway:  gateway,
		Log:      caddy.Log().Named("swarm.scaling"),
	})
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
	return sh.watcher.Destruct()
}

var _ caddy.Destructor = (*shared)(nil)
