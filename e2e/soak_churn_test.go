package e2e

import (
	"fmt"
	"net/http"
	"time"
)

// The soak's churn: what one cycle does to the swarm, and its resting
// state (multiply at soakReplicas, no extra service, no flipped label),
// where every cycle starts and ends, so that samples taken at a cycle's
// start are comparable.
const (
	soakReplicas = 3
	soakScaleTo  = 5
	soakOutage   = 10 * time.Second
	// soakFlipHost is the host of the route a label flip adds to multiply
	// and removes again (on path /extra, like the scenarios' labelChange),
	// with multiply's own route kept.
	soakFlipHost = "flip.test"
	// soakExtraPath is the prefix of the labelled service a cycle adds and
	// removes.
	soakExtraPath = "/soakextra"
)

// churn runs one cycle: scale multiply up and back, roll it, add a
// labelled service and remove it, flip a label on and off, and, when
// outage is set, take the gateway's Docker API away for soakOutage first.
// It returns when the swarm is back at rest and the gateway has seen it.
func (e *scenarioEnv) churn(outage bool) {
	e.t.Helper()
	if outage {
		// As the scenarios' outage: docker-api gone, the gateway serving the
		// last known routes, then back.
		stopDockerAPI(e.t)
		time.Sleep(soakOutage)
		startDockerAPI(e.t)
		eventually(e.t, "the gateway reaches the Docker API again", time.Minute, func() error {
			if up, err := discoveryValue("faas_gateway_docker_api_up"); err != nil || up != 1 {
				return fmt.Errorf("docker_api_up %v (%v)", up, err)
			}
			return nil
		})
	}

	e.scale(soakScaleTo)
	e.scale(soakReplicas)

	mustDocker(e.t, "service", "update", "--force", "--detach=false", "--quiet", multiplySv)

	extra := stackName + "_soakextra"
	createMultiply(e.t, extra, []string{"faas.enable=true", "faas.path=" + soakExtraPath, "faas.port=8080"})
	eventually(e.t, "the added service routed", 2*time.Minute, func() error { return answers35(soakExtraPath) })
	mustDocker(e.t, "service", "rm", extra)
	eventually(e.t, "the removed service unrouted", time.Minute, func() error {
		if code, _, err := get(soakExtraPath + "/api/v1/add?x=10&y=25"); err != nil || code != http.StatusNotFound {
			return fmt.Errorf("status %d (%v), want 404", code, err)
		}
		return nil
	})

	// With a faas.routes.* label a service has exactly its named routes:
	// multiply's own is kept as one (main), so the load never sees a gap.
	const route, main = "faas.routes.flip.", "faas.routes.main.path"
	e.labelChange(soakFlipHost, http.StatusOK, "--label-add", route+"host="+soakFlipHost, "--label-add", route+"path=/extra",
		"--label-add", main+"=/multiply")
	e.labelChange(soakFlipHost, http.StatusNotFound, "--label-rm", route+"host", "--label-rm", route+"path", "--label-rm", main)
}
