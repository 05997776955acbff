package scaling

// This file holds the autoscaler's Prometheus metrics, which the Caddy
// module's collector exports with its own (docs/observability.md lists
// them).

import "github.com/prometheus/client_golang/prometheus"

// WakeBuckets are the bounds, in seconds, of the wake latency: a cold
// start of a replica takes seconds, and the gateway's share tenths.
var WakeBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60}

// metrics are one autoscaler's.
type metrics struct {
	wakes     *prometheus.CounterVec
	sleeps    *prometheus.CounterVec
	decisions *prometheus.CounterVec
	wake      *prometheus.HistogramVec
	current   *prometheus.GaugeVec
	desired   *prometheus.GaugeVec
}

// Directions of a scale decision, the direction label's values.
const (
	DirectionUp   = "up"
	DirectionDown = "down"
)

func newMetrics() *metrics {
	return &metrics{
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faas_gateway_scale_wakes_total",
			Help: "Scale calls this gateway made to wake a sleeping service (one per burst of requests)."}, []string{"service"}),
		sleeps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faas_gateway_scale_sleeps_total",
			Help: "Scale calls this gateway made to put an idle service to sleep (0 replicas)."}, []string{"service"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faas_gateway_scale_decisions_total",
			Help: "Scale calls this gateway made to follow the load, by direction (up, down)."}, []string{"service", "direction"}),
		wake: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "faas_gateway_scale_wake_seconds",
			Help: "Time from the first request for a sleeping service to its first routed replica.", Buckets: WakeBuckets}, []string{"service"}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faas_gateway_scale_replicas_current",
			Help: "Running replicas of a scaled service."}, []string{"service"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faas_gateway_scale_replicas_desired",
			Help: "Replicas the autoscaler decided for a scaled service (what the leader writes)."}, []string{"service"}),
	}
}

// collectors are the metrics, in one order.
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.wakes, m.sleeps, m.decisions, m.wake, m.current, m.desired}
}

// Describe sends the descriptions of every autoscaler's metrics: what a
// collector that exports some autoscaler's declares.
func Describe(ch chan<- *prometheus.Desc) {
	for _, c := range newMetrics().collectors() {
		c.Describe(ch)
	}
}

// Collect sends the autoscaler's current metrics.
func (a *Autoscaler) Collect(ch chan<- prometheus.Metric) {
	for _, c := range a.metrics.collectors() {
		c.Collect(ch)
	}
}

// Describe sends the descriptions of the autoscaler's metrics.
func (a *Autoscaler) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }

var _ prometheus.Collector = (*Autoscaler)(nil)
