package caddymodule

// This file holds what the routes API (admin.go) and the status page
// (status.go) answer: JSON views of a watcher's route table, of what it
// does not route and why, and of its discovery.

import (
	"cmp"
	"slices"
	"time"
)

// routesView is the answer of GET /swarm/routes.
type routesView struct {
	Routes    []routeView     `json:"routes"`
	NotRouted []notRoutedView `json:"not_routed"`
}

// routeView is one route: a claim of a service on a host and prefix.
type routeView struct {
	Host     string            `json:"host"` // "" for any host
	Prefix   string            `json:"prefix"`
	Service  string            `json:"service"`
	Route    string            `json:"route,omitempty"`  // the route's name, "" for the service-level one
	Policy   string            `json:"policy,omitempty"` // the policy it chose by label, "" for the default handling
	Strip    bool              `json:"strip"`
	Requests map[string]uint64 `json:"requests"` // since routed, by status class
	Replicas []replicaView     `json:"replicas"`
}

// replicaView is a replica of a route.
type replicaView struct {
	Task     string `json:"task"`
	TaskID   string `json:"task_id,omitempty"`
	Node     string `json:"node,omitempty"` // node ID
	Address  string `json:"address"`
	Requests uint64 `json:"requests"` // served since routed
}

// notRoutedView is an opted-in service or route that is not routed (or,
// with reason "caveat", is routed with a warning).
type notRoutedView struct {
	Service string `json:"service"`
	Route   string `json:"route,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// statusView is the answer of GET /swarm/status.
type statusView struct {
	FirstSyncDone bool       `json:"first_sync_done"`
	LastSync      *time.Time `json:"last_sync,omitempty"`   // last successful listing
	LastChange    *time.Time `json:"last_change,omitempty"` // last listing that changed the routes
	DockerAPI     apiView    `json:"docker_api"`
	Events        uint64     `json:"events"` // Docker events received
}

// apiView is the state of the Docker API as the watcher sees it.
type apiView struct {
	Host      string            `json:"host"`
	Reachable bool              `json:"reachable"` // the last call succeeded
	Errors    map[string]uint64 `json:"errors"`    // failed calls by endpoint
	LastError string            `json:"last_error,omitempty"`
}

// routesView returns the watcher's current routes, sorted by service,
// route name, host and prefix, and what it does not route.
func (w *watcher) routesView() routesView {
	v := routesView{Routes: []routeView{}, NotRouted: []notRoutedView{}}
	w.table().each(func(r *route) {
		rv := routeView{Host: r.Host, Prefix: r.Prefix, Service: r.Service, Route: r.Name, Policy: r.Policy, Strip: r.Strip, Replicas: []replicaView{}}
		if r.meter != nil {
			rv.Requests = make(map[string]uint64, len(statusClasses))
			for i, c := range statusClasses {
				rv.Requests[c] = r.meter.stats.status[i].Load()
			}
		}
		for _, rep := range r.Replicas {
			p := replicaView{Task: rep.Task, TaskID: rep.TaskID, Node: rep.NodeID, Address: rep.Addr}
			if r.meter != nil {
				p.Requests = r.meter.replicas[rep.Addr].served.Load()
			}
			rv.Replicas = append(rv.Replicas, p)
		}
		v.Routes = append(v.Routes, rv)
	})
	slices.SortFunc(v.Routes, func(a, b routeView) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Prefix, b.Prefix))
	})
	if rep := w.report.Load(); rep != nil {
		for k, msg := range rep.problems {
			v.NotRouted = append(v.NotRouted, notRoutedView{Service: k.Service, Route: k.Route, Reason: rep.reasons[k], Message: msg})
		}
	}
	slices.SortFunc(v.NotRouted, func(a, b notRoutedView) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Route, b.Route))
	})
	return v
}

// statusView returns the state of the watcher's discovery.
func (w *watcher) statusView() statusView {
	d := &w.metrics.discovery
	errs, lastErr := d.errorCounts()
	v := statusView{
		LastSync:   unixTime(d.lastSync.Load()),
		LastChange: unixTime(d.lastChange.Load()),
		DockerAPI:  apiView{Reachable: d.up.Load(), Errors: errs, LastError: lastErr},
		Events:     d.events.Load(),
	}
	if w.lister.api != nil {
		v.DockerAPI.Host = w.lister.api.DaemonHost()
	}
	select {
	case <-w.firstSync():
		v.FirstSyncDone = true
	default:
	}
	return v
}

// unixTime is the time of Unix nanoseconds, nil for 0.
func unixTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}
