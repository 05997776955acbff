package e2e

import (
	"fmt"
	"strings"
)

// parity is what a contender does for each request, so that the bench's
// table shows which figure comes from doing less.
type parity struct {
	retries, health, accessLog, metrics, headers string
}

// What each kind of contender does per request, from its configuration:
// the Caddyfiles (the shipped one, testdata/static.Caddyfile.tmpl and
// testdata/reference.Caddyfile), cmd/bareproxy and the Traefik service the
// bench creates (traefikArgs).
var (
	caddyHeaders  = "X-Forwarded-For/-Proto/-Host set; hop-by-hop removed"
	parityCaddy   = parity{"lb_try_duration 10s, every 50ms", "passive: fail_duration 10s", "none (no log directive)", "none", caddyHeaders}
	parityGateway = parity{parityCaddy.retries, parityCaddy.health, parityCaddy.accessLog,
		"per route and replica counters (swarm_route)", caddyHeaders + "; route by host and path, prefix stripped"}
	parityNoMetrics = parity{parityGateway.retries, parityGateway.health, parityGateway.accessLog, "none (no_metrics)", parityGateway.headers}
	parityBare      = parity{"none", "none", "none", "none", "X-Forwarded-For/-Proto/-Host (SetXForwarded); hop-by-hop removed"}
	parityTraefik   = parity{"none (no retry middleware)", "none configured", "none (access log off, its default)",
		"Prometheus, per entry point, router and service", "X-Forwarded-For/-Proto/-Host/-Port/-Server, X-Real-Ip; X-Forwarded-Prefix (stripprefix); hop-by-hop removed"}
	parityDirect = parity{"-", "-", "-", "-", "no proxy: the replica itself"}
)

// parityTable prints what each contender does per request.
func parityTable(cs []*contender) string {
	var b strings.Builder
	b.WriteString("what each contender does per request:\n")
	row := "  %-46s | %-31s | %-26s | %-34s | %-46s | %s\n"
	fmt.Fprintf(&b, row, "contender", "retries", "passive health checks", "access logging", "metrics", "header handling")
	for _, c := range cs {
		p := c.does
		fmt.Fprintf(&b, row, c.name, p.retries, p.health, p.accessLog, p.metrics, p.headers)
	}
	return b.String()
}
