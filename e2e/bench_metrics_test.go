package e2e

import (
	"strings"
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
	return &contender{name: "gateway: metrics off", port: noMetricsPort, does: parityNoMetrics,
		service: startGatewayWith(t, "nometrics", gatewayImage, noMetricsPort, cf)}
}

// metricsOverhead is the bench's line comparing the gateway with metrics
// on and off, paired by round, with a verdict in the full bench only.
func metricsOverhead(on, off *contender, res resolution, full bool) string {
	line := pairLine("metrics: gateway with metrics on / off", on, off, res)
	if full {
		line = strings.TrimSuffix(line, "\n") + " " + res.verdict(mRPS, median(on.ratios(off, mRPS)), targetMetricsOverhead, true) + "\n"
	}
	return line
}
