package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// traefikImage is Traefik built from its source by
// scripts/traefik-image.sh; the bench runs it as a contender when the
// variable names an image this engine has.
var traefikImage = envOr("TRAEFIK_IMAGE", "")

// startTraefik runs Traefik's swarm provider as a contender: on the
// stack's network, with the Docker socket, serving on :8081 what the
// labels on multiply (testdata/bench.yml) route. It returns nil and the
// line saying why when there is no Traefik image. With profile, its API
// serves pprof on its own entry point (:8080), which the load never
// reaches.
func startTraefik(t *testing.T, profile bool) (*contender, string) {
	t.Helper()
	if traefikImage == "" {
		return nil, "traefik: skipped: TRAEFIK_IMAGE is not set (scripts/traefik-image.sh SRC_DIR builds the image)\n"
	}
	if _, err := docker(t, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", traefikImage); err != nil {
		return nil, fmt.Sprintf("traefik: skipped: TRAEFIK_IMAGE=%s is not an image on this engine (scripts/traefik-image.sh SRC_DIR %s builds it)\n", traefikImage, traefikImage)
	}
	args := traefikArgs()
	if profile {
		args = append(args, "--api.insecure=true", "--api.debug=true")
	}
	service := startService(t, "traefik", traefikImage, traefikPort, gatewayOpts(nil), args...)
	return &contender{name: "traefik: swarm provider", port: traefikPort, service: service, does: parityTraefik}, ""
}

// traefikArgs configure Traefik as a user would for this stack: the swarm
// provider on the Docker socket, only services that opt in, the stack's
// network, one entry point on the port the other contenders serve, and
// Prometheus metrics (as the gateway counts requests).
func traefikArgs() []string {
	return []string{
		"--entrypoints.web.address=:8081",
		"--providers.swarm=true",
		"--providers.swarm.endpoint=unix:///var/run/docker.sock",
		"--providers.swarm.exposedByDefault=false",
		"--providers.swarm.network=" + stackName + "_net",
		"--providers.swarm.constraints=Label(`com.docker.stack.namespace`,`" + stackName + "`)",
		"--metrics.prometheus=true",
	}
}

// versusTraefik is issue 24's comparison: the shipped gateway against
// Traefik, paired by round, with each target's verdict in the full bench
// where the resolution supports one.
func versusTraefik(shipped, traefik *contender, res resolution, memRes float64, full bool) string {
	var b strings.Builder
	b.WriteString("shipped gateway / traefik, paired by round:\n")
	for _, m := range []metric{mRPS, mCPU, mP50, mP99} {
		s := spreadOf(shipped.ratios(traefik, m))
		line := fmt.Sprintf("    %-12s %s %s", metricNames[m], s, res.difference(m, s.med))
		if full {
			line += " " + res.verdict(m, s.med, targetVsTraefik, m == mRPS)
		}
		b.WriteString(line + "\n")
	}
	line := fmt.Sprintf("    %-12s %.1f MB, traefik %.1f MB", "RSS after", shipped.rssMB, traefik.rssMB)
	if full {
		line += " " + memVerdict(shipped.rssMB, traefik.rssMB, memRes, "≤ traefik's")
	}
	b.WriteString(line + "\n")
	return b.String()
}
