package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The bench's harness, tested without Docker: reading cgroups and wrk's
// output, and loading a process in a network namespace of its own.

// TestCgroupCPUFile: the CPU accounting file is derived from the
// process's cgroup lines and the mounts, under either cgroup version.
func TestCgroupCPUFile(t *testing.T) {
	const v1Mounts = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`
	for _, tc := range []struct {
		name, cgroup, mounts string
		want                 cgroupCPU
		wantErr              bool
	}{
		{"v1, cpuacct mounted alone", "9:name=systemd:/docker/abc\n4:cpuacct:/docker/abc\n3:cpu:/docker/abc\n", v1Mounts,
			cgroupCPU{file: "/sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage"}, false},
		{"v1, cpu and cpuacct together", "3:cpu,cpuacct:/docker/abc\n",
			"30 23 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
			cgroupCPU{file: "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage"}, false},
		{"v1, mounted at a namespace's root", "4:cpuacct:/docker/abc\n",
			"33 31 0:30 /docker /mnt/cg rw - cgroup cgroup rw,cpuacct\n",
			cgroupCPU{file: "/mnt/cg/abc/cpuacct.usage"}, false},
		{"v2", "0::/system.slice/docker-abc.scope\n",
			"30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
			cgroupCPU{file: "/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.stat", v2: true}, false},
		{"v1 lines, no cpuacct mount", "4:cpuacct:/docker/abc\n", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", cgroupCPU{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroupCPUFile(tc.cgroup, tc.mounts)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("cgroupCPUFile = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestParseWrk reads the figures the bench takes from wrk's output.
func TestParseWrk(t *testing.T) {
	out := []byte(`Running 2s test @ http://127.0.0.1:8081/multiply/api/v1/add?x=10&y=25
  2 threads and 32 connections
  10315 requests in 2.00s, 1.89MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   5150.73
Transfer/sec:    965.31KB
`)
	got, err := parseWrk(out)
	if err != nil || got != (wrkResult{rps: 5150.73, requests: 10315, non2xx: 3}) {
		t.Errorf("parseWrk = %+v, %v", got, err)
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:8081 Connection refused\n")); err == nil {
		t.Error("parseWrk accepted output with no figures")
	}
}

// TestNetnsLoad runs multiply in a network namespace of its own (unshare
// -n) and drives it as the bench drives a contender: wrk and cmd/loadgen
// entered into that namespace, and the CPU time of its cgroup.
func TestNetnsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short: it builds multiply and cmd/loadgen and runs them as root")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		unavailable(t, "wrk is not installed (apt-get install wrk)")
	}
	for _, tool := range []string{"nsenter", "unshare", "ip", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s is not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "entering network namespaces needs root")
	}
	multiply, loadgenBin := buildBinary(t, "../multiply"), buildBinary(t, "../cmd/loadgen")
	const addr = "127.0.0.1:18180"
	srv := exec.Command("unshare", "-n", "--", "sh", "-c", `ip link set lo up && exec "$0" -addr `+addr, multiply)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	pid := srv.Process.Pid // unshare and sh exec: multiply keeps the pid
	group, removeGroup := ownCgroup(t, pid)
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		removeGroup()
	})
	base := "http://" + addr
	eventually(t, "multiply answers in its namespace", 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if out, err := inNetns(ctx, pid, "curl", "-fsS", base+"/api/v1/add?x=1&y=2").CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if _, _, err := getFrom(base, "/api/v1/add?x=1&y=2"); err == nil {
		t.Fatalf("%s answers on this namespace's loopback too: the server is not in a namespace of its own", addr)
	}

	cpu, err := containerCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(filepath.Dir(cpu.file)) != filepath.Base(group) {
		t.Fatalf("the CPU file derived for process %d is %s, want one in its cgroup %s", pid, cpu.file, group)
	}
	before, err := cpu.read()
	if err != nil {
		t.Fatal(err)
	}
	res, err := runWrk(wrk, pid, base+"/api/v1/add?x=10&y=25", 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.non2xx != 0 || res.requests == 0 || res.rps <= 0 {
		t.Errorf("wrk in the namespace: %+v, want requests and no non-2xx", res)
	}
	after, err := cpu.read()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("the cgroup's CPU time (%s) went from %v to %v under load", cpu.file, before, after)
	}

	s, err := runLoadgen(loadgenBin, pid, base, "", 100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent < 50 || s.Failed != 0 || s.P50 <= 0 || s.P99 < s.P50 {
		t.Errorf("loadgen in the namespace at 100/s for 1s: %d sent, %d failed %v, p50 %v, p99 %v", s.Sent, s.Failed, s.Errors, s.P50, s.P99)
	}
	t.Logf("in the namespace: wrk %.0f req/s (%d requests), %v CPU per request in %s; loadgen %d sent, p50 %v p99 %v",
		res.rps, res.requests, (after-before)/time.Duration(res.requests), cpu.file, s.Sent, s.P50, s.P99)
}

// TestBenchFigures: the resolution is the A/A pair's largest difference in
// any round; a smaller difference is "none", a target within the
// resolution of a figure gets no verdict, and every round's figure is
// kept in the rounds' file.
func TestBenchFigures(t *testing.T) {
	mk := func(name string, rps, cpu []float64) *contender {
		c := &contender{name: name, does: parityCaddy}
		c.vals[mRPS], c.vals[mCPU] = rps, cpu
		for _, m := range []metric{mP50, mP99, mP999} {
			c.vals[m] = []float64{500, 500}
		}
		return c
	}
	base := mk("baseline", []float64{1000, 1100}, []float64{100, 100})
	twin := mk("twin", []float64{1020, 1089}, []float64{97, 101})
	res := resolutionOf(twin, base)
	if want := (resolution{mRPS: 0.02, mCPU: 0.03}); math.Abs(res[mRPS]-want[mRPS]) > 1e-9 || math.Abs(res[mCPU]-want[mCPU]) > 1e-9 || res[mP50] != 0 {
		t.Fatalf("resolution = %v, want req/s 2%%, CPU 3%%, latency 0", res)
	}
	faster := mk("faster", []float64{1050, 1155}, []float64{90, 90})
	same := mk("same", []float64{1010, 1111}, []float64{99, 102})
	for _, tc := range []struct {
		name             string
		c                *contender
		m                metric
		wantDiff         string
		target           float64
		atLeast          bool
		wantVerdictStart string
	}{
		{"5% more requests", faster, mRPS, "+5.0%", 1, true, "PASS"},
		{"10% less CPU", faster, mCPU, "-10.0%", 1, false, "PASS"},
		{"1% more requests, within 2%", same, mRPS, "none", 1, true, "no verdict"},
		{"5% more requests, short of 1.35", faster, mRPS, "+5.0%", 1.35, true, "MISS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ratio := median(tc.c.ratios(base, tc.m))
			if got := res.difference(tc.m, ratio); got != tc.wantDiff {
				t.Errorf("difference(%.3f) = %q, want %q", ratio, got, tc.wantDiff)
			}
			if got := res.verdict(tc.m, ratio, tc.target, tc.atLeast); !strings.HasPrefix(got, tc.wantVerdictStart) {
				t.Errorf("verdict(%.3f, %.2f) = %q, want %s", ratio, tc.target, got, tc.wantVerdictStart)
			}
		})
	}
	table := benchTable([]*contender{base, twin, faster, same}, res)
	if !strings.Contains(table, "1.050 (1.050-1.050) +5.0%") || strings.Count(table, "\n") != 5 {
		t.Errorf("benchTable:\n%s", table)
	}
	tsv := roundsTSV([]*contender{base, twin})
	if lines := strings.Split(strings.TrimSpace(tsv), "\n"); len(lines) != 1+2*int(numMetrics)*2 || lines[2] != "baseline\treq/s\t2\t1100.00" || !strings.Contains(tsv, "twin\tCPU/request\t1\t97.00\n") {
		t.Errorf("roundsTSV:\n%s", tsv)
	}
	t.Log("\n" + table + parityTable([]*contender{base}))
}

// TestTraefikSkipped: without TRAEFIK_IMAGE the bench runs no Traefik and
// says so, with the way to build it.
func TestTraefikSkipped(t *testing.T) {
	saved := traefikImage
	t.Cleanup(func() { traefikImage = saved })
	traefikImage = ""
	c, line := startTraefik(t, false)
	if c != nil || !strings.Contains(line, "traefik: skipped: TRAEFIK_IMAGE is not set") || !strings.Contains(line, "scripts/traefik-image.sh") {
		t.Errorf("startTraefik without TRAEFIK_IMAGE = %v, %q", c, line)
	}
}

// ownCgroup moves process pid into a new cgroup beside the test's own, so
// that its CPU time is its alone, as a container's is. It returns the
// cgroup's directory and what removes it once the process has ended.
func ownCgroup(t *testing.T, pid int) (string, func()) {
	t.Helper()
	self, err := containerCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(self.file), fmt.Sprintf("faas-bench-harness-%d", pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	remove := func() {
		for range 50 { // until the kernel has let the exited process go
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		remove()
		t.Fatalf("moving %d into %s: %v", pid, dir, err)
	}
	return dir, remove
}

// TestLogLevelLine: a failure's report picks the error and warning lines of
// Caddy's JSON log and Traefik's console log, and no others.
func TestLogLevelLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"level":"error","ts":1.7,"logger":"http.log.error","msg":"dial tcp 10.0.0.5:8080: connect: connection refused","status":502}`, true},
		{`{"level":"warn","ts":1.7,"msg":"route disabled"}`, true},
		{`{"level":"info","ts":1.7,"msg":"route added"}`, false},
		{"\x1b[90m2026-12-04T21:06:30Z\x1b[0m \x1b[31mERR\x1b[0m \x1b[1mCommand error\x1b[0m", true},
		{"2026-12-04T21:06:30Z WRN Traefik can reject some encoded characters", true},
		{"2026-12-04T21:06:30Z INF Starting provider *docker.SwarmProvider", false},
		{`{"level":"info","msg":"ERRORS counted: 0"}`, false},
	} {
		if got := logLevelLine.MatchString(tc.line); got != tc.want {
			t.Errorf("logLevelLine.MatchString(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}
