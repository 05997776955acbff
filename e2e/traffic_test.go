package e2e

// This file proves weighted routing (issue 23, docs/traffic.md) on the
// swarm: a blue-green switch by label, `docker service update
// --label-add faas.weight=…`, under load.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// What the switch must do: every request sent flipWithin after the second
// label update is answered by green, and none fails.
const (
	flipRate   = 200
	flipWithin = 500 * time.Millisecond
)

// TestWeightFlip switches /flip from blue (weight 100) to green (0) under
// 200 requests/s: green's weight is raised first, then blue's dropped, so
// that the route never has all its weights at 0 (a 503).
func TestWeightFlip(t *testing.T) {
	requireSwarm(t)
	deployStack(t, "stack.yml")
	blue, green := stackName+"_blue", stackName+"_green"
	for name, weight := range map[string]string{blue: "100", green: "0"} {
		createMultiply(t, name, []string{"faas.enable=true", "faas.path=/flip", "faas.port=8080", "faas.weight=" + weight},
			"--env", "SERVICE_ID={{.Service.Name}}.{{.Task.Slot}}")
	}
	eventually(t, "blue at 100 and green at 0, blue answering /flip", 3*time.Minute, func() error {
		if err := checkWeights(t, "/flip", map[string][2]int{blue: {100, 100}, green: {0, 0}}); err != nil {
			return err
		}
		if side, err := flipAnswer("/flip"); err != nil || side != blue {
			return fmt.Errorf("answered by %q (%v), want %s", side, err, blue)
		}
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []loadgen.Record, 1)
	go func() {
		done <- loadgen.Run(ctx, loadgen.Config{BaseURL: baseURL, Prefix: "/flip", Rate: flipRate, Duration: 8 * time.Second})
	}()
	time.Sleep(3 * time.Second)
	mustDocker(t, "service", "update", "--detach", "--label-add", "faas.weight=100", green)
	mustDocker(t, "service", "update", "--detach", "--label-add", "faas.weight=0", blue)
	flipped := time.Now()
	recs := <-done

	var before, after, failed, late int
	lastBlue := -time.Hour // when the last request blue answered was sent, from the switch
	for _, r := range recs {
		if r.Failed() {
			failed++
			t.Logf("failed: %+v", r)
			continue
		}
		side := strings.SplitN(r.ServiceID, ".", 2)[0]
		if side == blue {
			lastBlue = max(lastBlue, r.Sent.Sub(flipped))
		}
		switch {
		case r.Sent.Before(flipped.Add(-2 * time.Second)):
			before++
			if side != blue {
				t.Errorf("before the switch, answered by %s", r.ServiceID)
			}
		case r.Sent.After(flipped.Add(flipWithin)):
			after++
			if side != green {
				late++
			}
		}
	}
	if err := checkWeights(t, "/flip", map[string][2]int{blue: {0, 0}, green: {100, 100}}); err != nil {
		t.Errorf("after the switch: %v", err)
	}
	t.Logf("%d requests; the last one blue answered was sent %v from the second label update (negative: before it)",
		len(recs), lastBlue.Round(time.Millisecond))
	if failed > 0 || late > 0 || before < 100 || after < 500 {
		t.Errorf("%d requests (%d before the switch, %d from %v after it): %d failed, %d not from green; want 0 and 0",
			len(recs), before, after, flipWithin, failed, late)
	}
}

// flipAnswer asks path's multiply for 10+25 and returns the service that
// answered (its SERVICE_ID is <service>.<slot>).
func flipAnswer(path string) (string, error) {
	code, body, err := get(path + "/api/v1/add?x=10&y=25")
	if err != nil {
		return "", err
	}
	var r loadgen.Reply
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Data.Result != 35 {
		return "", fmt.Errorf("GET %s: %d %q", path, code, body)
	}
	return strings.SplitN(r.Data.ServiceID, ".", 2)[0], nil
}

// gatewayRoutes decodes the routes API of the stack's gateway (its admin
// endpoint, /swarm/routes) into v.
func gatewayRoutes(t *testing.T, v any) error {
	t.Helper()
	_, pid, err := gatewayProcess(t)
	if err != nil {
		return err
	}
	body, err := adminGet(pid, "/swarm/routes")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding /swarm/routes: %w", err)
	}
	return nil
}

// checkWeights compares the sides of path's route in the gateway's routes
// API (its admin endpoint) with want: each service's weight, and its
// share in percent, with one replica each.
func checkWeights(t *testing.T, path string, want map[string][2]int) error {
	t.Helper()
	var v struct {
		Routes []struct {
			Prefix, Service string
			Weight          *int
			Share           *float64
			Replicas        []json.RawMessage
		}
	}
	if err := gatewayRoutes(t, &v); err != nil {
		return err
	}
	got := map[string][2]int{}
	for _, r := range v.Routes {
		if r.Prefix != path || r.Weight == nil || r.Share == nil || len(r.Replicas) != 1 {
			continue
		}
		got[r.Service] = [2]int{*r.Weight, int(math.Round(*r.Share * 100))}
	}
	if !maps.Equal(got, want) {
		return fmt.Errorf("weights and shares (%%) of %s with a replica each: %v, want %v", path, got, want)
	}
	return nil
}
