package discovery

// This file holds what a watcher publishes: the route table and the report
// of what building it found, swapped in together.

import (
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// Snapshot is one publish: the table requests are routed with and the
// report of the listing it was built from. It is immutable.
type Snapshot struct {
	Table  *routing.Table
	Report Report
}

// emptySnapshot is what a watcher holds before its first publish.
var emptySnapshot = &Snapshot{Table: routing.Empty, Report: NewReport()}

// Report is what building a table found out besides the table.
type Report struct {
	// Services are the opted-in services, routed or not, by name (by
	// ServiceKey in a watcher of several engines).
	Services map[string]ServiceStatus
	// Problems says why a service, or one of its routes, is not routed
	// (or is routed with a caveat). The watcher logs each once when it
	// appears.
	Problems map[ProblemKey]Problem
}

// NewReport returns an empty report to fill in.
func NewReport() Report {
	return Report{Services: make(map[string]ServiceStatus), Problems: make(map[ProblemKey]Problem)}
}

// Add records why a service or route is not routed.
func (r Report) Add(k ProblemKey, reason, msg string) {
	r.Problems[k] = Problem{Reason: reason, Message: msg}
}

// Converging reports whether any service converges.
func (r Report) Converging() bool {
	for _, s := range r.Services {
		if s.Converging {
			return true
		}
	}
	return false
}

// ProblemKey names what a problem is about: a service, or one route of it.
type ProblemKey struct {
	// Engine names the engine of the service, with several; "" with one.
	Engine  string
	Service string
	Route   string // "" for the service as a whole
}

// Problem is why a service or route is not routed.
type Problem struct {
	// Reason is the kind of problem, one of the Reason constants: a
	// short, bounded word for metrics and the routes API.
	Reason string
	// Message says what is wrong and how to mend it.
	Message string
}

// Reasons a service or route is not routed (or, for ReasonCaveat, is
// routed with a caveat).
const (
	ReasonLabels    = "labels"    // its labels do not parse
	ReasonNetwork   = "network"   // no network it shares with the gateway
	ReasonUpstreams = "upstreams" // lb=vip without a virtual IP
	ReasonClaimed   = "claimed"   // an older service claims its host and prefix
	ReasonCaveat    = "caveat"    // routed, but on a network chosen by default
)

// NotRoutedReasons are the reasons of services not routed, for metrics.
var NotRoutedReasons = []string{ReasonLabels, ReasonNetwork, ReasonUpstreams, ReasonClaimed}

// ServiceStatus is what a watcher tracks of an opted-in service.
type ServiceStatus struct {
	ID string
	// Converging is true while the service scales, updates, or has
	// replicas starting or stopping: its source re-lists it often.
	Converging bool
	// Starting is true while the service converges towards at least one
	// replica and has none running (woken from zero, just created, scaled
	// up from nothing): a request may be waiting for its first replica, so
	// its source re-lists it faster than converge_interval, for a while.
	Starting bool
	// Idle is true when the service is settled and wants no replica: a
	// failing request cannot be a sign of a change the source missed.
	Idle bool
	// Created is when the service (or the oldest of its containers) was
	// created: of two sources' claims on one host and prefix, the older
	// wins.
	Created time.Time

	source int // the index of the source that reports it, in its watcher
}
