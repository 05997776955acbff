package e2e

import (
	"fmt"
	"testing"
)

// targetMetricsOverhead: the gateway's throughput with metrics on (the
// default) is at least this fraction of its throughput with them off.
const targetMetricsOverhead = 0.97

// startNoMetrics runs a second gateway, the same image and Caddyfile with
// swarm_route's per-route and per-replica metrics off (`no_metrics`), so
// that the bench measures what counting costs in the same run.
func startNoMetrics(t *testing.T) *contender {
	t.Helper()
	cf := caddyfileVariant(t, "\tswarm_route {\n", "\tswarm_route {\n\t\tno_metrics\n")
	return &contender{name: "gateway: metrics off", port: noMetricsPort,
		service: startGatewayWith(t, "nometrics", gatewayImage, noMetricsPort, cf)}
}

// metricsOverhead is the bench's line comparing the gateway's throughput
// with metrics on and off, paired by round.
func metricsOverhead(on, off *contender) string {
	ratio := on.ratioTo(off)
	return fmt.Sprintf("metrics: gateway throughput with metrics on / off %.3f %s\n", ratio,
		verdictOf(ratio >= targetMetricsOverhead, fmt.Sprintf("≥ %.2f", targetMetricsOverhead)))
}
