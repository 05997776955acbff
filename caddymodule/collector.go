package caddymodule

// This file exports the described watcher's counters and state as
// Prometheus metrics, in the registry Caddy serves at the admin endpoint's
// /metrics.

import (
	"cmp"
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
	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
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
	descRouteEngine = prometheus.NewDesc("faas_gateway_route_engine",
		"1 for the engine a service's route is on (default with one engine): join it on service and route.",
		[]string{"service", "route", "engine"}, nil)
	descEngineUp = prometheus.NewDesc("faas_gateway_engine_api_up",
		"1 if the last call to an engine's Docker API succeeded, else 0.",
		[]string{"engine"}, nil)
	descEngineSinceSync = prometheus.NewDesc("faas_gateway_engine_seconds_since_last_sync",
		"Seconds since the last successful listing of an engine (absent before its first).",
		[]string{"engine"}, nil)
)

// collector exports the metrics of the described watcher (see described).
// It reads that watcher's current state at every scrape, so a registry of
// a config that is gone keeps nothing alive, and only what the current
// route table routes is exported. There is one: every config's registry
// takes the same.
type collector struct {
	// watcher returns the watcher to export, nil for none; scaler (if
	// set) its autoscaler, nil with scaling off.
	watcher func() *discovery.Watcher
	scaler  func() *scaling.Autoscaler
}

// metricsCollector is the collector of the described watcher.
var metricsCollector = collector{watcher: describedWatcher, scaler: describedScaler}

// Describe sends the descriptors of every metric.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRequests, descDuration, descReplicas, descReplicaRequests, descWeight, descShare, descResyncs, descResyncDuration,
		descAPIErrors, descEvents, descSinceSync, descAPIUp, descNotRouted, descJoin,
		descRouteEngine, descEngineUp, descEngineSinceSync,
	} {
		ch <- d
	}
	scaling.Describe(ch)
}

// Collect sends the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	if w := c.watcher(); w != nil {
		collectWatcher(ch, w)
	}
	if c.scaler == nil {
		return
	}
	if a := c.scaler(); a != nil {
		a.Collect(ch)
	}
}

// collectWatcher sends w's current values.
func collectWatcher(ch chan<- prometheus.Metric, w *discovery.Watcher) {
	snap := w.Snapshot()
	engines := w.Engines()
	only := engineNameOf(engines[0]) // the name of sides marked with none
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
		ch <- prometheus.MustNewConstMetric(descRouteEngine, prometheus.GaugeValue, 1, s.Service, s.Name, cmp.Or(s.Engine, only))
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

	tot := totalsOf(engines)
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(tot.resyncsOK), "success")
	ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(tot.resyncsFailed), "failure")
	ch <- prometheus.MustNewConstHistogram(descResyncDuration, tot.resyncs.count, tot.resyncs.sum, tot.resyncs.buckets)
	for _, ep := range endpoints {
		ch <- prometheus.MustNewConstMetric(descAPIErrors, prometheus.CounterValue, float64(tot.errs[ep]), ep)
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(tot.events))
	if !tot.lastSync.IsZero() {
		ch <- prometheus.MustNewConstMetric(descSinceSync, prometheus.GaugeValue, time.Since(tot.lastSync).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descAPIUp, prometheus.GaugeValue, boolValue(tot.up))
	for _, e := range engines {
		name := engineNameOf(e)
		ch <- prometheus.MustNewConstMetric(descEngineUp, prometheus.GaugeValue, boolValue(e.Stats.APIUp()), name)
		if last := e.Stats.LastSync(); !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(descEngineSinceSync, prometheus.GaugeValue, time.Since(last).Seconds(), name)
		}
	}
	notRouted := make(map[string]int)
	for _, p := range snap.Report.Problems {
		notRouted[p.Reason]++
	}
	for _, reason := range discovery.NotRoutedReasons {
		ch <- prometheus.MustNewConstMetric(descNotRouted, prometheus.GaugeValue, float64(notRouted[reason]), reason)
	}
	ch <- prometheus.MustNewConstHistogram(descJoin, tot.joins.count, tot.joins.sum, tot.joins.buckets)
}

// totals are the discovery counters of every engine summed, for the
// series without an engine label: with one engine, its own, as they were
// before there were several.
type totals struct {
	resyncsOK, resyncsFailed, events uint64
	errs                             map[string]uint64 // by endpoint
	// lastSync is the stalest engine's last sync: zero while one has
	// never listed.
	lastSync time.Time
	up       bool // every engine's API answered its last call
	resyncs  histogramSum
	joins    histogramSum
}

// histogramSum is the sum of histograms of the same buckets.
type histogramSum struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// add adds h's counts.
func (hs *histogramSum) add(h *routing.Histogram) {
	count, sum, buckets := h.Snapshot()
	if hs.buckets == nil {
		hs.buckets = make(map[float64]uint64, len(buckets))
	}
	hs.count += count
	hs.sum += sum
	for b, n := range buckets {
		hs.buckets[b] += n
	}
}

// totalsOf sums the engines' counters.
func totalsOf(engines []discovery.EngineStatus) totals {
	tot := totals{errs: make(map[string]uint64), up: true}
	for i, e := range engines {
		st := e.Stats
		ok, failed := st.Resyncs()
		tot.resyncsOK += ok
		tot.resyncsFailed += failed
		tot.events += st.Events()
		errs, _ := st.ErrorCounts()
		for ep, n := range errs {
			tot.errs[ep] += n
		}
		if last := st.LastSync(); i == 0 || last.IsZero() || (!tot.lastSync.IsZero() && last.Before(tot.lastSync)) {
			tot.lastSync = last
		}
		tot.up = tot.up && st.APIUp()
		tot.resyncs.add(st.ResyncDurations())
		tot.joins.add(st.Joins())
	}
	return tot
}

// boolValue is 1 for true, 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
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
	if w := describedWatcher(); w != nil && w != d.watcher {
		ctx.Logger().Warn("this module's discovery options differ from another module's: the metrics, the routes API and the status page describe the other's watcher")
	}
}

var _ prometheus.Collector = collector{}

// endpoints are the Docker API endpoints the sources call, each once.
var endpoints = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(swarmsource.Endpoints), containersource.Endpoints...))))
