package e2e

// This file holds the gateway's own lifecycle on one node (issue 13): an
// upgrade of the only gateway, under load, measured.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// Load of the single-node upgrade: the rate of the measurement,
// and long enough for the update (shutdown_delay 5s, then a new task).
const (
	upgradeRate     = 100
	upgradeDuration = 40 * time.Second
	upgradeAfter    = 5 * time.Second // load before the update starts
)

// gap is what a client saw of an upgrade: the failed requests, and the
// time from the first failure to the last.
type gap struct {
	sent, failed, notFound int
	first, last            time.Time
	reasons                map[string]int
}

func measureGap(recs []loadgen.Record) gap {
	g := gap{sent: len(recs), reasons: map[string]int{}}
	for _, r := range recs {
		if !r.Failed() {
			continue
		}
		g.failed++
		if r.Code == http.StatusNotFound {
			g.notFound++
		}
		reason := r.Err
		if reason == "" {
			reason = fmt.Sprintf("status %d", r.Code)
		}
		g.reasons[shortReason(reason)]++
		if g.first.IsZero() || r.Sent.Before(g.first) {
			g.first = r.Sent
		}
		if r.Done().After(g.last) {
			g.last = r.Done()
		}
	}
	return g
}

// shortReason keeps the end of an error, which says what happened
// (connection refused, reset by peer, EOF) without the URL.
func shortReason(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func (g gap) String() string {
	var rs []string
	for r, n := range g.reasons {
		rs = append(rs, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(rs)
	d := time.Duration(0)
	if g.failed > 0 {
		d = g.last.Sub(g.first)
	}
	return fmt.Sprintf("%d of %d requests failed (%d of them 404) over %v [%s]",
		g.failed, g.sent, g.notFound, d.Round(10*time.Millisecond), strings.Join(rs, ", "))
}

// TestGatewayUpgradeSingleNode forces an update of the only gateway, on
// its host-mode port, under upgradeRate requests/s. Such an upgrade
// cannot be seamless (nothing listens between the old task's exit and the
// new one's start); what must hold is that the new gateway answers no
// claimed path with 404 while it lists the swarm, and that the gap is
// measured: it goes to build/lifecycle.txt.
func TestGatewayUpgradeSingleNode(t *testing.T) {
	requireSwarm(t)
	deployStack(t, "stack.yml")
	eventually(t, "gateway answers 10+25=35", 3*time.Minute, func() error {
		_, err := add()
		return err
	})
	eventually(t, "/-/ready answers 200", time.Minute, func() error {
		if code, body, err := get("/-/ready"); err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	records := make(chan []loadgen.Record, 1)
	go func() {
		records <- loadgen.Run(ctx, loadgen.Config{BaseURL: baseURL, Prefix: "/multiply", Rate: upgradeRate, Duration: upgradeDuration})
	}()
	time.Sleep(upgradeAfter)
	start := time.Now()
	if out, err := docker(t, 2*time.Minute, "service", "update", "--force", "--detach=false", gatewaySv); err != nil {
		t.Fatalf("docker service update --force %s: %v\n%s", gatewaySv, err, out)
	}
	took := time.Since(start)
	recs := <-records

	g := measureGap(recs)
	line := fmt.Sprintf("single-node gateway upgrade (docker service update --force, %d req/s): %v; the update took %v",
		upgradeRate, g, took.Round(100*time.Millisecond))
	t.Log(line)
	if err := os.MkdirAll("../build", 0o755); err == nil {
		_ = os.WriteFile(filepath.Join("../build", "lifecycle.txt"), []byte(line+"\n"), 0o644)
	}
	if g.notFound > 0 {
		t.Errorf("%d requests for /multiply got 404 during the upgrade; a gateway that has not listed the swarm must not say so", g.notFound)
	}
	if code, body, err := get("/-/ready"); err != nil || code != http.StatusOK {
		t.Errorf("after the upgrade, /-/ready = %d %q %v, want 200", code, body, err)
	}
}
