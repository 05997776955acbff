package caddymodule

// This file exports the described watcher's counters and state as
// Prometheus metrics, in the registry Caddy serves at the admin endpoint's
// /metrics.

import (
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/containersource"
	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/swarmsource"
	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// The metrics, all prefixed faas_gateway_; docs/observability.md lists
// them.
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
	descWeight = prometheus.NewDesc("faas_gateway_route_weight",
		"Weight of a side (a service's route) of a weighted route, by the route's host and prefix.",
		[]string{"host", "prefix", "service", "route"}, nil)
	descShare = prometheus.NewDesc("faas_gateway_route_share",
		"Part of a weighted route's requests a side gets, from 0 to 1: its weight over the route's total.",
		[]string{"host", "prefix", "service", "route"}, nil)
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

// collector exports the metrics of the described watcher (see described).
// It reads that watcher's current state at every scrape, so a registry of
// a config that is gone keeps nothing alive, and only what the current
// route table routes is exported. There is one: every config's registry
// takes the same.
type collector struct {
	// watcher returns the watcher to export, nil for none.
	watcher func() *discovery.Watcher
}

// metricsCollector is the collector of the described watcher.
var metricsCollector = collector{watcher: described}

// Describe sends the descriptors of every metric.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRequests, descDuration, descReplicas, descReplicaRequests, descWeight, descShare, descResyncs, descResyncDuration,
		descAPIErrors, descEvents, descSinceSync, descAPIUp, descNotRouted, descJoin,
	} {
		ch <- d
	}
}

// Collect sends the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	if w := c.watcher(); w != nil {
		collectWatcher(ch, w)
	}
}

// collectWatcher sends w's current values.
func collectWatcher(ch chan<- prometheus.Metric, w *discovery.Watcher) {
	snap := w.Snapshot()
	seen := make(map[[2]string]bool)
	snap.Table.EachSide(func(r *routing.Route, s *routing.Side) {
		if r.Weighted {
			ch <- prometheus.MustNewConstMetric(descWeight, prometheus.GaugeValue, float64(s.Weight), r.Host, r.Prefix, s.Service, s.Name)
			ch <- prometheus.MustNewConstMetric(descShare, prometheus.GaugeValue, r.Share(s), r.Host, r.Prefix, s.Service, s.Name)
		}
		k := [2]string{s.Service, s.Name}
		if s.Meter == nil || seen[k] {
			return // a route on several hosts is counted once
		}
		seen[k] = true
		for i, class := range routing.StatusClasses {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.Meter.Requests(i)), s.Service, s.Name, class)
		}
		count, sum, buckets := s.Meter.Durations().Snapshot()
		ch <- prometheus.MustNewConstHistogram(descDuration, count, sum, buckets, s.Service, s.Name)
		ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, float64(len(s.Replicas)), s.Service, s.Name)
		for _, rep := range s.Replicas {
			ch <- prometheus.MustNewConstMetric(descReplicaRequests, prometheus.CounterValue, float64(s.Meter.ServedBy(rep.Addr)), s.Service, s.Name, rep.Task, rep.Addr)
		}
	})

	st := w.Stats()
	ok, failed := st.Resyncs()
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(ok), "success")
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(failed), "failure")
	count, sum, buckets := st.ResyncDurations().Snapshot()
	ch <- prometheus.MustNewConstHistogram(descResyncDuration, count, sum, buckets)
	errs, _ := st.ErrorCounts()
	for _, ep := range endpoints {
		ch <- prometheus.MustNewConstMetric(descAPIErrors, prometheus.CounterValue, float64(errs[ep]), ep)
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.Events()))
	if last := st.LastSync(); !last.IsZero() {
		ch <- prometheus.MustNewConstMetric(descSinceSync, prometheus.GaugeValue, time.Since(last).Seconds())
	}
	up := 0.0
	if st.APIUp() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descAPIUp, prometheus.GaugeValue, up)
	notRouted := make(map[string]int)
	for _, p := range snap.Report.Problems {
		notRouted[p.Reason]++
	}
	for _, reason := range discovery.NotRoutedReasons {
		ch <- prometheus.MustNewConstMetric(descNotRouted, prometheus.GaugeValue, float64(notRouted[reason]), reason)
	}
	count, sum, buckets = st.Joins().Snapshot()
	ch <- prometheus.MustNewConstHistogram(descJoin, count, sum, buckets)
}

// registerMetrics registers the collector in the metrics registry of
// ctx's config, which takes it once however many modules register it; a
// new config has a new registry, and registers it again. A module whose
// watcher is not the described one is told so in a warning: with several
// discovery configurations, the metrics, the routes API and the status
// page describe the first.
func registerMetrics(ctx caddy.Context, d *Discovery) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	err := reg.Register(metricsCollector)
	var dup prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &dup) {
		ctx.Logger().Warn("registering the gateway's metrics", zap.Error(err))
	}
	if w := described(); w != nil && w != d.watcher {
		ctx.Logger().Warn("this module's discovery options differ from another module's: the metrics, the routes API and the status page describe the other's watcher")
	}
}

var _ prometheus.Collector = collector{}

// endpoints are the Docker API endpoints the sources call, each once.
var endpoints = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(swarmsource.Endpoints), containersource.Endpoints...))))
