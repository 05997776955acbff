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

// noMetricsContender is a second gateway, the same image and Caddyfile with
// swarm_route's per-route and per-replica metrics off (startNoMetrics): the
// bench measures what counting costs in the same run.
var noMetricsContender = &contender{name: "gateway: metrics off", port: noMetricsPort, prefix: "/multiply", path: "/multiply/api/v1/add?x=10&y=25"}

// startNoMetrics runs noMetricsContender: the image's Caddyfile with
// `no_metrics` added to swarm_route, reading the Docker socket as the
// stack's gateway does.
func startNoMetrics(t *testing.T) {
	t.Helper()
	cf, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const on, off = "\tswarm_route\n", "\tswarm_route {\n\t\tno_metrics\n\t}\n"
	if n := strings.Count(string(cf), on); n != 1 {
		t.Fatalf("the Caddyfile has %d lines %q, want 1", n, on)
	}
	runCaddyService(t, "nometrics", []byte(strings.Replace(string(cf), on, off, 1)), noMetricsPort,
		"--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly",
		"--constraint", "node.role==manager")
}

// metricsOverhead is the bench's line comparing the gateway's throughput
// with metrics on and off.
func metricsOverhead(cs []*contender) string {
	var on, off *contender
	for _, c := range cs {
		switch c.port {
		case gatewayPort:
			on = c
		case noMetricsPort:
			off = c
		}
	}
	ratio := median(on.rps) / median(off.rps)
	return fmt.Sprintf("metrics: gateway throughput with metrics on / off %.3f %s\n", ratio,
		verdictOf(ratio >= targetMetricsOverhead, fmt.Sprintf("≥ %.2f", targetMetricsOverhead)))
}
