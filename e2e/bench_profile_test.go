package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchProfile is where BENCH_PROFILE=1 writes the CPU profiles that issue
// 24 compares: the shipped gateway's and Traefik's, each taken under the
// bench's own load (wrk from inside the contender's network
// namespace), through Caddy's admin endpoint and Traefik's --api.debug.
const benchProfile = "../build/profiles"

// pprofSource is where a contender serves its CPU profile, on its own
// loopback.
func pprofSource(c *contender) string {
	if c.does == parityTraefik {
		return "http://127.0.0.1:8080/debug/pprof/profile" // --api.insecure --api.debug: the traefik entry point
	}
	return "http://localhost:2019/debug/pprof/profile" // gateway.caddy's admin address
}

// profileContenders takes a CPU profile of each contender under wrk's load
// (conns connections) for d, the profile's window a second inside either
// end of it, and writes it with its top functions and what the load
// measured to benchProfile/<its service, without the stack>.pprof and .txt.
func profileContenders(t *testing.T, wrk string, conns int, d time.Duration, cs ...*contender) string {
	t.Helper()
	window := d - 2*time.Second
	if err := os.MkdirAll(benchProfile, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "profiles (BENCH_PROFILE): %s of CPU profile under wrk -t2 -c%d each, in %s:\n", window, conns, benchProfile)
	for _, c := range cs {
		file := strings.TrimPrefix(c.service, stackName+"_")
		pprof := filepath.Join(benchProfile, file+".pprof")
		cpu := c.cpuTime(t)
		type loaded struct {
			res wrkResult
			err error
		}
		done := make(chan loaded, 1)
		go func() {
			res, err := runWrk(wrk, c.pid, c.innerURL()+c.path, conns, d)
			done <- loaded{res, err}
		}()
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), d+30*time.Second)
		out, err := inNetns(ctx, c.pid, "curl", "-fsS", "-o", pprof, fmt.Sprintf("%s?seconds=%d", pprofSource(c), int(window.Seconds()))).CombinedOutput()
		cancel()
		l := <-done
		if err == nil {
			err = l.err
		}
		if err != nil { // the figures of the rounds still count: say so, and go on
			t.Errorf("profile of %s: %v\n%s", c.name, err, out)
			fmt.Fprintf(&b, "  %-46s no profile: %v\n", c.name, err)
			continue
		}
		used := c.cpuTime(t) - cpu
		top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount", "80", pprof).CombinedOutput()
		if err != nil {
			t.Errorf("pprof -top %s: %v\n%s", pprof, err, top)
		}
		summary := fmt.Sprintf("  %-46s %7.0f req/s, %6.1fµs CPU/request (its cgroup) -> %s\n", c.name, l.res.rps, float64(used)/float64(l.res.requests)/1e3, pprof)
		b.WriteString(summary)
		if err := os.WriteFile(filepath.Join(benchProfile, file+".txt"), append([]byte(summary), top...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
