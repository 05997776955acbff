package e2e

import (
	"fmt"
	"os"
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
	cf, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const on, off = "\tswarm_route {\n", "\tswarm_route {\n\t\tno_metrics\n"
	if n := strings.Count(string(cf), on); n != 1 {
		t.Fatalf("the Caddyfile has %d lines %q, want 1", n, on)
	}
	const name = "nometrics"
	opts := append(gatewayOpts(nil), caddyfileOpts(t, name, []byte(strings.Replace(string(cf), on, off, 1)))...)
	return &contender{name: "gateway: metrics off", port: noMetricsPort,
		service: startService(t, name, gatewayImage, noMetricsPort, opts, caddyfileArgs...)}
}

// metricsOverhead is the bench's line comparing the gateway's throughput
// with metrics on and off, paired by round.
func metricsOverhead(on, off *contender) string {
	ratio := on.ratioTo(off)
	return fmt.Sprintf("metrics: gateway throughput with metrics on / off %.3f %s\n", ratio,
		verdictOf(ratio >= targetMetricsOverhead, fmt.Sprintf("≥ %.2f", targetMetricsOverhead)))
}
