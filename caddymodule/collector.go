package caddymodule

// This file exports the watcher's counters (metrics.go) and state as
// Prometheus metrics, in the registry Caddy serves at the admin endpoint's
// /metrics.

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
)

// The metrics, all prefixed faas_gateway_. The README's Observability
// section lists them.
var (
	descRequests = prometheus.NewDesc("faas_gateway_requests_total",
		"Requests routed to a service's route, by status class of the response.",
		[]string{"service", "route", "status_class"}, nil)
	descDuration = prometheus.NewDesc("faas_gateway_request_duration_seconds",
		"Time from routing a request to the end of its response.",
		[]string{"service", "route"}, nil)
	descReplicas = prometheus.NewDesc("faas_gateway_replicas",
		"Replicas a route sends requests to.",
		[]string{"service", "route"}, nil)
	descReplicaRequests = prometheus.NewDesc("faas_gateway_replica_requests_total",
		"Requests a replica served (the last one tried, under retries), while it is routed.",
		[]string{"service", "route", "task", "address"}, nil)
	descResyncs = prometheus.NewDesc("faas_gateway_discovery_resyncs_total",
		"Full listings of the swarm, by result.",
		[]string{"result"}, nil)
	descResyncDuration = prometheus.NewDesc("faas_gateway_discovery_resync_duration_seconds",
		"Duration of the full listings of the swarm.", nil, nil)
	descAPIErrors = prometheus.NewDesc("faas_gateway_docker_api_errors_total",
		"Failed calls to the Docker API, by endpoint.",
		[]string{"endpoint"}, nil)
	descEvents = prometheus.NewDesc("faas_gateway_docker_events_total",
		"Docker events received.", nil, nil)
	descSinceSync = prometheus.NewDesc("faas_gateway_discovery_seconds_since_last_sync",
		"Seconds since the last successful listing of the swarm (absent before the first).", nil, nil)
	descAPIUp = prometheus.NewDesc("faas_gateway_docker_api_up",
		"1 if the last call to the Docker API succeeded, else 0.", nil, nil)
	descNotRouted = prometheus.NewDesc("faas_gateway_services_not_routed",
		"Opted-in services and routes that are not routed, by reason.",
		[]string{"reason"}, nil)
	descJoin = prometheus.NewDesc("faas_gateway_replica_join_seconds",
		"Time from a task reaching running (by the engine's clock) to its first routed request being possible.", nil, nil)
)

// collector exports one watcher's metrics. It reads the watcher's current
// state at every scrape, so a registry of a config that is gone does not
// keep anything alive but the watcher, and only what the current route
// table routes is exported.
type collector struct{ w *watcher }

// Describe sends the descriptors of every metric.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRequests, descDuration, descReplicas, descReplicaRequests, descResyncs, descResyncDuration,
		descAPIErrors, descEvents, descSinceSync, descAPIUp, descNotRouted, descJoin,
	} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	seen := make(map[routeKey]bool)
	c.w.table().each(func(r *route) {
		k := routeKey{r.Service, r.Name}
		if r.meter == nil || seen[k] {
			return // a route on several hosts is counted once
		}
		seen[k] = true
		for i, class := range statusClasses {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(r.meter.stats.status[i].Load()), r.Service, r.Name, class)
		}
		count, sum, buckets := r.meter.stats.duration.snapshot()
		ch <- prometheus.MustNewConstHistogram(descDuration, count, sum, buckets, r.Service, r.Name)
		ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, float64(len(r.Replicas)), r.Service, r.Name)
		for _, rep := range r.Replicas {
			served := r.meter.replicas[rep.Addr].served.Load()
			ch <- prometheus.MustNewConstMetric(descReplicaRequests, prometheus.CounterValue, float64(served), r.Service, r.Name, rep.Task, rep.Addr)
		}
	})

	d := &c.w.metrics.discovery
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(d.resyncsOK.Load()), "success")
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(d.resyncsFailed.Load()), "failure")
	count, sum, buckets := d.resyncDuration.snapshot()
	ch <- prometheus.MustNewConstHistogram(descResyncDuration, count, sum, buckets)
	errs, _ := d.errorCounts()
	for _, ep := range dockerEndpoints {
		ch <- prometheus.MustNewConstMetric(descAPIErrors, prometheus.CounterValue, float64(errs[ep]), ep)
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(d.events.Load()))
	if last := d.lastSync.Load(); last != 0 {
		ch <- prometheus.MustNewConstMetric(descSinceSync, prometheus.GaugeValue, time.Since(time.Unix(0, last)).Seconds())
	}
	up := 0.0
	if d.up.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descAPIUp, prometheus.GaugeValue, up)
	notRouted := make(map[string]int)
	if rep := c.w.report.Load(); rep != nil {
		for _, reason := range rep.reasons {
			notRouted[reason]++
		}
	}
	for _, reason := range notRoutedReasons {
		ch <- prometheus.MustNewConstMetric(descNotRouted, prometheus.GaugeValue, float64(notRouted[reason]), reason)
	}
	count, sum, buckets = d.joins.snapshot()
	ch <- prometheus.MustNewConstHistogram(descJoin, count, sum, buckets)
}

// dockerEndpoints are the Docker API endpoints the watcher calls (see
// docker.go), each exported with its error count, zero or not.
var dockerEndpoints = []string{"GET /services", "GET /tasks", "GET /networks", eventsEndpoint}

// registerMetrics registers the watcher's collector in the metrics
// registry of ctx's config. Every module of the config that shares the
// watcher registers the same collector, which the registry takes once; a
// new config has a new registry, and registers it again. A second
// watcher (modules with other discovery options) exports nothing: its
// metrics would collide with the first one's.
func (w *watcher) registerMetrics(ctx caddy.Context) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	err := reg.Register(w.collector)
	var dup prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
	case errors.As(err, &dup) && dup.ExistingCollector == w.collector:
	default:
		ctx.Logger().Warn("metrics of this discovery configuration are not exported: another one's are", zap.Error(err))
	}
}

var _ prometheus.Collector = (*collector)(nil)
