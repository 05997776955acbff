package caddymodule

// This file holds swarm_route's part in scaling: it counts a scaled
// service's requests in flight, and holds the requests of one that has no
// replica running while it wakes.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// errNotAwake is a request's wait for a replica that ended with the
// wake timeout.
var errNotAwake = errors.New("no replica woke within wake_timeout")

// serveScaled serves a request of a scaled side: counted in flight from
// its arrival to its end, and, when the side has no replica, held until
// the service wakes (see awaitWake).
func (sr *SwarmRoute) serveScaled(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, side *routing.Side, cleaned string) error {
	load := side.Load // the service's, kept across tables
	load.Start()
	defer load.End()
	if len(side.Upstreams) == 0 {
		cur, err := sr.awaitWake(r, side)
		switch {
		case errors.Is(err, errNotAwake):
			return writeUnavailable(w, fmt.Sprintf("503 service unavailable: service %s did not wake within %v\n", side.Service, time.Duration(sr.WakeTimeout)))
		case err != nil:
			return caddyhttp.Error(statusClientClosedRequest, err)
		}
		side = cur
	}
	return sr.serveSide(w, r, next, side, cleaned)
}

// awaitWake wakes side's service and waits, up to wake_timeout, for the
// current table to have a replica of the side: it returns that side, or
// errNotAwake, or the request's error if the client leaves first. Every
// request that finds no replica waits here; the autoscaler makes one
// scale call for all of them.
func (sr *SwarmRoute) awaitWake(r *http.Request, side *routing.Side) (*routing.Side, error) {
	svc := side.ScaledService()
	sr.scaler.Wake(svc)
	timer := time.NewTimer(time.Duration(sr.WakeTimeout))
	defer timer.Stop()
	for {
		published := sr.watcher.Published() // before the read: no publish is missed
		if cur := sr.watcher.Table().Current(side); cur != nil && len(cur.Upstreams) > 0 {
			sr.scaler.Routed(svc.Key(), svc.Name)
			return cur, nil
		}
		select {
		case <-published:
		case <-timer.C:
			return nil, errNotAwake
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}
