package caddymodule

// This file holds what the routes API (admin.go) and the status page
// (status.go) answer: JSON views of a watcher's route table, of what it
// does not route and why, and of its discovery.

import (
	"cmp"
	"slices"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// routesView is the answer of GET /swarm/routes.
type routesView struct {
	Routes    []routeView     `json:"routes"`
	NotRouted []notRoutedView `json:"not_routed"`
}

// routeView is one route: a claim of a service on a host and prefix (on
// a weighted route, one of the sides that share it).
type routeView struct {
	Engine   string            `json:"engine"` // the engine of the service: "default" with one (see docs/engines.md)
	Host     string            `json:"host"`   // "" for any host
	Prefix   string            `json:"prefix"`
	Service  string            `json:"service"`
	Route    string            `json:"route,omitempty"`  // the route's name, "" for the service-level one
	Policy   string            `json:"policy,omitempty"` // the policy it chose by label, "" for the default handling
	Strip    bool              `json:"strip"`
	Weight   *uint32           `json:"weight,omitempty"` // on a weighted route: the side's weight
	Share    *float64          `json:"share,omitempty"`  // on a weighted route: its part of the requests, 0 to 1
	Requests map[string]uint64 `json:"requests"`         // since routed, by status class
	Replicas []replicaView     `json:"replicas"`
	Scaling  *scalingView      `json:"scaling,omitempty"` // a service with scaling labels: its state
}

// scalingView is the state of a scaled service (the same on each of its
// routes).
type scalingView struct {
	State   string `json:"state"`   // sleeping, waking or awake
	Running uint64 `json:"running"` // replicas running
	Desired uint64 `json:"desired"` // the count of the service's spec
	Decided uint64 `json:"decided"` // what the autoscaler decided last
	Reason  string `json:"reason"`  // why
	Panic   bool   `json:"panic,omitempty"`
	Leader  bool   `json:"leader"` // this gateway writes the decisions
	Min     uint64 `json:"min"`
	Max     uint64 `json:"max"`
	Idle    string `json:"idle,omitempty"` // "" when it never sleeps
	Target  uint64 `json:"target"`         // requests in flight per replica
}

// replicaView is a replica of a route.
type replicaView struct {
	Task     string `json:"task"`
	TaskID   string `json:"task_id,omitempty"`
	Node     string `json:"node,omitempty"` // node ID
	Address  string `json:"address"`
	Requests uint64 `json:"requests"`        // served since routed
	Local    bool   `json:"local,omitempty"` // on the gateway's node, and preferred (lb local)
}

// notRoutedView is an opted-in service or route that is not routed (or,
// with reason "caveat", is routed with a warning).
type notRoutedView struct {
	Engine  string `json:"engine"`
	Service string `json:"service"`
	Route   string `json:"route,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// statusView is the answer of GET /swarm/status.
type statusView struct {
	FirstSyncDone bool         `json:"first_sync_done"`       // every engine listed once
	LastSync      *time.Time   `json:"last_sync,omitempty"`   // last successful listing (of the first engine)
	LastChange    *time.Time   `json:"last_change,omitempty"` // last listing that changed the routes (of the first engine)
	DockerAPI     apiView      `json:"docker_api"`            // the first engine's (the only one, but with engines)
	Events        uint64       `json:"events"`                // Docker events received (of the first engine)
	Engines       []engineView `json:"engines"`               // every engine, in their order
}

// engineView is the discovery state of one engine.
type engineView struct {
	Name          string     `json:"name"`
	FirstSyncDone bool       `json:"first_sync_done"`
	LastSync      *time.Time `json:"last_sync,omitempty"`
	LastChange    *time.Time `json:"last_change,omitempty"`
	DockerAPI     apiView    `json:"docker_api"`
	Events        uint64     `json:"events"`
}

// apiView is the state of the Docker API as the watcher sees it.
type apiView struct {
	Host      string            `json:"host"`
	Reachable bool              `json:"reachable"` // the last call succeeded
	Errors    map[string]uint64 `json:"errors"`    // failed calls by endpoint
	LastError string            `json:"last_error,omitempty"`
}

// routesOf returns w's current routes, sorted by service, route name,
// host and prefix, with the state of the scaled ones as a (nil: scaling
// off) has it, and what it does not route.
func routesOf(w *discovery.Watcher, a *scaling.Autoscaler) routesView {
	snap := w.Snapshot()
	v := routesView{Routes: []routeView{}, NotRouted: []notRoutedView{}}
	only := engineNameOf(w.Engines()[0]) // the name of sides and problems marked with none
	snap.Table.EachSide(func(r *routing.Route, s *routing.Side) {
		rv := routeView{Engine: cmp.Or(s.Engine, only), Host: r.Host, Prefix: r.Prefix, Service: s.Service, Route: s.Name, Policy: s.Policy, Strip: s.Strip, Replicas: []replicaView{}}
		if r.Weighted {
			weight, share := s.Weight, r.Share(s)
			rv.Weight, rv.Share = &weight, &share
		}
		if s.Meter != nil {
			rv.Requests = make(map[string]uint64, len(routing.StatusClasses))
			for i, c := range routing.StatusClasses {
				rv.Requests[c] = s.Meter.Requests(i)
			}
		}
		for _, rep := range s.Replicas {
			p := replicaView{Task: rep.Task, TaskID: rep.TaskID, Node: rep.NodeID, Address: rep.Addr, Local: slices.Contains(s.Local, rep.Addr)}
			if s.Meter != nil {
				p.Requests = s.Meter.ServedBy(rep.Addr)
			}
			rv.Replicas = append(rv.Replicas, p)
		}
		if s.Scaling != nil {
			rv.Scaling = scalingViewOf(s, a)
		}
		v.Routes = append(v.Routes, rv)
	})
	slices.SortFunc(v.Routes, func(a, b routeView) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Engine, b.Engine), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Prefix, b.Prefix))
	})
	for k, p := range snap.Report.Problems {
		v.NotRouted = append(v.NotRouted, notRoutedView{Engine: cmp.Or(k.Engine, only), Service: k.Service, Route: k.Route, Reason: p.Reason, Message: p.Message})
	}
	slices.SortFunc(v.NotRouted, func(a, b notRoutedView) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Engine, b.Engine))
	})
	return v
}

// scalingViewOf is the state of the scaled side s.
func scalingViewOf(s *routing.Side, a *scaling.Autoscaler) *scalingView {
	st := a.Status(s.ScaledService())
	v := &scalingView{State: st.State, Running: s.Running, Desired: s.Desired, Decided: st.Decided, Reason: st.Reason, Panic: st.Panic, Leader: st.Leader,
		Min: s.Scaling.Min, Max: s.Scaling.Max, Target: s.Scaling.Target}
	if s.Scaling.Idle > 0 {
		v.Idle = s.Scaling.Idle.String()
	}
	return v
}

// statusOf returns the state of w's discovery: of each engine, and at the
// top level of the first (the only one, but with engines), as it was
// before there were several.
func statusOf(w *discovery.Watcher) statusView {
	engines := w.Engines()
	v := statusView{FirstSyncDone: w.Synced(), Engines: make([]engineView, len(engines))}
	for i, e := range engines {
		st := e.Stats
		errs, lastErr := st.ErrorCounts()
		v.Engines[i] = engineView{
			Name:          engineNameOf(e),
			FirstSyncDone: e.Synced,
			LastSync:      timeOrNil(st.LastSync()),
			LastChange:    timeOrNil(st.LastChange()),
			DockerAPI:     apiView{Host: e.Host, Reachable: st.APIUp(), Errors: errs, LastError: lastErr},
			Events:        st.Events(),
		}
	}
	first := v.Engines[0]
	v.LastSync, v.LastChange, v.DockerAPI, v.Events = first.LastSync, first.LastChange, first.DockerAPI, first.Events
	return v
}

// engineNameOf is the name an engine is shown with: its own, else (a
// watcher built without names, in tests) "default".
func engineNameOf(e discovery.EngineStatus) string { return cmp.Or(e.Name, defaultEngineName) }

// timeOrNil is &t, nil for the zero time.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
