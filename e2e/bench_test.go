package e2e

import (
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// Benchmark targets, from the issues that asked for them. They are
// reported in the full bench only (BENCH=full), and there only where the
// A/A pair's resolution can tell the figure from the target; the
// CI-sized run prints figures only.
const (
	targetLoadedMB = 30.0 // shipped gateway RSS after the load ≤ baseline's + 30 MB
	targetFairness = 1.05 // max/min requests per replica, default policy
	targetMemoryMB = 20.0 // gateway RSS with 1,000 routes ≤ stock Caddy idle + 20 MB
	// Issue 24's, against Traefik in the same run (when TRAEFIK_IMAGE is
	// built): the shipped gateway's requests per second at least Traefik's
	// (ratio ≥ 1), its CPU per request, p50 and p99 at most Traefik's
	// (ratio ≤ 1), its resident memory after the load at most Traefik's.
	targetVsTraefik = 1.0
)

// benchSize is the full suite (`make bench`) or CI's few seconds of load.
type benchSize struct {
	rounds    int
	wrkTime   time.Duration // per contender per round, saturation
	latTime   time.Duration // per contender per round, fixed rate
	fairN     int           // requests for the fairness runs
	routes    int           // services created for the memory figure
	connLimit int
}

func benchSizeFromEnv() (benchSize, string) {
	size, name := benchSize{rounds: 2, wrkTime: 2 * time.Second, latTime: 2 * time.Second, fairN: 2000, routes: 50, connLimit: 32}, "CI-sized, figures only (BENCH=full for the full suite)"
	if os.Getenv("BENCH") == "full" {
		size, name = benchSize{rounds: 5, wrkTime: 5 * time.Second, latTime: 5 * time.Second, fairN: 10000, routes: 1000, connLimit: 32}, "full"
	}
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		size.rounds = n
	}
	if d, err := time.ParseDuration(os.Getenv("BENCH_TIME")); err == nil && d >= time.Second {
		size.wrkTime, size.latTime = d, d
	}
	return size, name
}

type contender struct {
	name, path string
	prefix     string // multiply's prefix on this contender
	port       int    // published on this node, for the readiness check only
	inner      int    // its port in its own network namespace, where the load goes
	service    string // the swarm service
	does       parity // what it does per request
	pid        int    // its container's main process on this node
	cpu        cgroupCPU
	vals       [numMetrics][]float64 // per round
	rssMB      float64               // after the load
}

// innerURL is the contender's base URL on its own loopback.
func (c *contender) innerURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.inner) }

// cpuTime is the CPU time the contender's container has used so far.
func (c *contender) cpuTime(t *testing.T) time.Duration {
	t.Helper()
	d, err := c.cpu.read()
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return d
}

// TestBench measures in one run the shipped gateway (the image and
// Caddyfile `make up` deploys, which it checks), the same gateway without
// its tuning, each tuning lever alone, stock Caddy with hand-written
// upstreams (the baseline: the gateway's binary, built with stock Caddy's
// settings, running a static Caddyfile with Go's GC defaults) and the same
// baseline again under another name (the A/A pair, whose difference is the
// bench's resolution), Traefik's swarm provider when TRAEFIK_IMAGE is
// built, a ceiling (Go's own httputil reverse proxy and nothing else) and
// others. Each contender is loaded from inside its own network namespace,
// on its own loopback: saturation throughput with wrk and CPU per request
// from its container's cgroup, then latency at a fixed rate with
// cmd/loadgen, the order rotating each round (A B C D, B C D A, ...);
// then resident memory after that load, fairness over 10 replicas, and
// memory with many routes. Figures are ratios to the baseline of the same
// round, median (min-max) over rounds. CI runs it with a few seconds of
// load and prints figures only. BENCH_GC="GOGC=200
// GOGC=800,GOMEMLIMIT=64MiB" adds the shipped gateway with each of those
// settings, BENCH_CADDYFILES="a b" the shipped gateway with each of those
// Caddyfiles (absolute, or from the repository's root) instead of its own,
// beside gateway.caddy for its imports, BENCH_IMAGES="a b" the shipped
// Caddyfile on each of those images (other builds); BENCH_ROUNDS=10 runs
// that many rounds instead of 5 (the full bench) or 2, BENCH_TIME=10s that
// long per contender per round; BENCH_PROFILE=1 takes CPU profiles of the
// shipped gateway and Traefik after the rounds
// (bench_profile_test.go).
func TestBench(t *testing.T) {
	requireSwarm(t)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		unavailable(t, "wrk is not installed (apt-get install wrk)")
	}
	if _, err := exec.LookPath("nsenter"); err != nil || os.Geteuid() != 0 {
		unavailable(t, "the bench loads each contender from inside its network namespace: it needs nsenter (util-linux) and root")
	}
	size, sizeName := benchSizeFromEnv()
	full := os.Getenv("BENCH") == "full"
	if full {
		for image, target := range map[string]string{pgoImage: "gateway-image-pgo", bareproxyImage: "bareproxy-image"} {
			if _, err := docker(t, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", image); err != nil {
				unavailable(t, "image %s not built: run `make %s`", image, target)
			}
		}
	}
	loadgenBin := buildBinary(t, "../cmd/loadgen")
	deployStack(t, "stack.yml", "e2e/testdata/reference.yml", "e2e/testdata/bench.yml")
	cli := newDockerClient(t)
	clock := watchTasks(t, cli, multiplySv)
	env := &scenarioEnv{t: t, clock: clock}
	env.scale(3)
	// The shipped binary is built as stock Caddy is (xcaddy's flags, no
	// PGO): run with Go's GC defaults and a static Caddyfile, it is the
	// baseline. Its twin is the same image and Caddyfile under another
	// name: what the pair differs by is noise.
	baseline := &contender{name: "baseline: stock caddy, static upstreams", port: staticPort, does: parityCaddy,
		service: startStatic(t, cli, gatewayImage, "static", staticPort)}
	twin := &contender{name: "baseline again (A/A: same image, Caddyfile)", port: twinPort, does: parityCaddy,
		service: startStatic(t, cli, gatewayImage, "static_twin", twinPort)}

	// The levers, each alone and with the other: the image's GC settings
	// and the Caddyfile's lazy log encoder; and PGO, which is not shipped,
	// added to the shipped gateway.
	shippedGC := imageEnv(t, gatewayImage, "GOGC", "GOMEMLIMIT")
	goDefaults := []string{"GOGC=100"}
	var gateways []*contender
	if full {
		eager := caddyfileVariant(t, lazyLog, "")
		gateways = []*contender{
			{name: "gateway: untuned (GC defaults, eager log)", port: untunedPort, does: parityGateway, service: startGatewayWith(t, "untuned", gatewayImage, untunedPort, eager, goDefaults...)},
			{name: "gateway: lazy log only", port: lazyOnlyPort, does: parityGateway, service: startGateway(t, "lazy_only", gatewayImage, lazyOnlyPort, goDefaults...)},
			{name: "gateway: GC settings only", port: gcOnlyPort, does: parityGateway, service: startGatewayWith(t, "gc_only", gatewayImage, gcOnlyPort, eager, shippedGC...)},
			{name: "gateway: shipped, built with PGO", port: pgoPort, does: parityGateway, service: startGateway(t, "pgo", pgoImage, pgoPort)},
			// How far a Go proxy can go here with nothing but proxying.
			{name: "ceiling: Go's httputil proxy, static upstreams", port: barePort, does: parityBare,
				service: startService(t, "bareproxy", bareproxyImage, barePort, nil, append([]string{"-strip", "/multiply"}, taskAddrs(t, cli)...)...)},
		}
	}
	noMetrics := startNoMetrics(t)
	gateways = append(gateways, noMetrics)
	for i, v := range strings.Fields(os.Getenv("BENCH_GC")) {
		port, vars := gcPort+i, strings.Split(v, ",")
		gateways = append(gateways, &contender{name: "gateway: shipped, " + strings.Join(vars, " "), port: port, does: parityGateway,
			service: startGateway(t, fmt.Sprintf("gc%d", i), gatewayImage, port, vars...)})
	}
	for i, file := range strings.Fields(os.Getenv("BENCH_CADDYFILES")) {
		if !filepath.IsAbs(file) {
			file = filepath.Join("..", file)
		}
		cf, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// In place of the root Caddyfile, beside gateway.caddy, which it may import.
		files := shippedCaddyfileSet(t)
		files["Caddyfile"] = cf
		port := caddyfilePort + i
		gateways = append(gateways, &contender{name: "gateway: shipped, " + filepath.Base(file), port: port, does: parityGateway,
			service: startGatewayWith(t, fmt.Sprintf("caddyfile%d", i), gatewayImage, port, files)})
	}
	for i, image := range strings.Fields(os.Getenv("BENCH_IMAGES")) {
		port := imagePort + i
		gateways = append(gateways, &contender{name: "gateway: image " + image, port: port, does: parityGateway,
			service: startGateway(t, fmt.Sprintf("image%d", i), image, port)})
	}
	profile := os.Getenv("BENCH_PROFILE") != ""
	traefik, traefikSkipped := startTraefik(t, profile)
	if traefik != nil {
		gateways = append(gateways, traefik)
	}

	const addPath = "/api/v1/add?x=10&y=25"
	shipped := &contender{name: fmt.Sprintf("gateway: shipped (lazy log, %s)", strings.Join(shippedGC, " ")), port: gatewayPort, service: gatewaySv, does: parityGateway}
	cs := append([]*contender{baseline, twin, shipped}, gateways...)
	cs = append(cs,
		&contender{name: "caddy: dynamic a tasks.<svc>", port: refPort, service: stackName + "_reference", does: parityCaddy},
		&contender{name: "direct: one multiply replica", port: directPort, inner: 8080, path: addPath, service: stackName + "_direct", does: parityDirect})
	for _, c := range cs {
		if c.path == "" {
			c.prefix, c.path = "/multiply", "/multiply"+addPath
		}
		if c.inner == 0 {
			c.inner = 8081
		}
		eventually(t, c.name+" answers", 2*time.Minute, func() error {
			code, body, err := getFrom(localURL(c.port), c.path)
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d: %s", code, body)
			}
			return err
		})
	}
	checkShipped(t)
	time.Sleep(2 * time.Second)

	// Idle memory first, before any load has grown a heap.
	caddyIdle, twinIdle := rssMB(t, baseline.service), rssMB(t, twin.service)
	gwIdle := rssMB(t, gatewaySv)

	// Saturation throughput, after a second of warm-up each (connections,
	// heap), not counted, and the CPU time each container spends per
	// request.
	for _, c := range cs {
		c.pid = servicePID(t, c.service)
		if c.cpu, err = containerCPU(c.pid); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := runWrk(wrk, c.pid, c.innerURL()+c.path, size.connLimit, time.Second); err != nil {
			t.Fatalf("%s warm-up: %v", c.name, err)
		}
	}
	for r := range size.rounds {
		// Each round starts one contender later, so that no contender
		// always runs at the same point of a round (after the same other).
		for i := range cs {
			c := cs[(i+r)%len(cs)]
			cpu := c.cpuTime(t)
			res, err := runWrk(wrk, c.pid, c.innerURL()+c.path, size.connLimit, size.wrkTime)
			if err != nil {
				t.Fatalf("%s round %d: %v", c.name, r, err)
			}
			if res.non2xx > 0 {
				t.Errorf("%s round %d: %d responses were not 2xx; its log's errors:\n%s", c.name, r, res.non2xx, errorLines(t, c.service, 20))
			}
			c.vals[mRPS] = append(c.vals[mRPS], res.rps)
			c.vals[mCPU] = append(c.vals[mCPU], float64(c.cpuTime(t)-cpu)/float64(res.requests)/1e3)
		}
	}

	// Latency at a fixed rate well below saturation: a quarter of the
	// baseline's, at most 1,000/s (loadgen needs more CPU per request than
	// wrk, and shares the two cores).
	rate := min(1000, max(50, int(median(baseline.vals[mRPS])/4)))
	for r := range size.rounds {
		for i := range cs {
			c := cs[(i+r)%len(cs)]
			s, err := runLoadgen(loadgenBin, c.pid, c.innerURL(), c.prefix, rate, size.latTime)
			if err != nil {
				t.Fatalf("%s round %d: %v", c.name, r, err)
			}
			if s.Failed > 0 {
				t.Errorf("%s at %d req/s: %d of %d failed: %v; its log's errors:\n%s", c.name, rate, s.Failed, s.Sent, s.Errors, errorLines(t, c.service, 20))
			}
			for m, d := range map[metric]time.Duration{mP50: s.P50, mP99: s.P99, mP999: s.P999} {
				c.vals[m] = append(c.vals[m], float64(d)/1e3)
			}
		}
	}
	for _, c := range cs {
		c.rssMB = rssMB(t, c.service)
	}
	var profiles string
	if profile {
		profiled := []*contender{shipped} // the baseline's static Caddyfile serves no admin endpoint
		if traefik != nil {
			profiled = append(profiled, traefik)
		}
		profiles = profileContenders(t, wrk, size.connLimit, 20*time.Second, profiled...)
	}
	for _, g := range append(gateways, twin) { // done: their CPU is the other contenders' from here on
		_, _ = docker(t, time.Minute, "service", "rm", g.service)
	}

	var out strings.Builder
	fmt.Fprintf(&out, "bench (%s): %d rounds; each contender loaded from inside its own network namespace (nsenter -n, its own loopback: no docker-proxy, no published port), the order rotating each round; wrk -t2 -c%d for %s each, CPU per request from each container's cgroup over wrk's requests; then cmd/loadgen at %d req/s for %s each\n",
		sizeName, size.rounds, size.connLimit, size.wrkTime, rate, size.latTime)
	fmt.Fprintf(&out, "ratios: to the baseline of the same round, median (min-max) over the rounds; CPU/request and latency below 1 are better; \"none\": within the resolution\n")
	res := resolutionOf(twin, baseline)
	memRes := max(math.Abs(twin.rssMB-baseline.rssMB), math.Abs(twinIdle-caddyIdle))
	fmt.Fprintf(&out, "resolution (the A/A pair, baseline again / baseline, largest difference of any round): %s; resident memory ±%.1f MB\n", res, memRes)
	out.WriteString(benchTable(cs, res))
	out.WriteString(traefikSkipped)
	out.WriteString(profiles)
	out.WriteString(parityTable(cs))
	if full {
		out.WriteString(leversTable(shipped, baseline, gateways[0], gateways[1], gateways[2], gateways[3], res))
	}
	out.WriteString(pairLine("shipped gateway / baseline", shipped, baseline, res))
	if traefik != nil {
		out.WriteString(versusTraefik(shipped, traefik, res, memRes, full))
	}
	loaded := fmt.Sprintf("after the load: shipped gateway %.1f MB resident, baseline %.1f MB (%+.1f MB)", shipped.rssMB, baseline.rssMB, shipped.rssMB-baseline.rssMB)
	if full {
		loaded += " " + memVerdict(shipped.rssMB, baseline.rssMB+targetLoadedMB, memRes, fmt.Sprintf("≤ baseline + %.0f MB", targetLoadedMB))
	}
	out.WriteString(loaded + "\n")
	out.WriteString(metricsOverhead(shipped, noMetrics, res, full))
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		fmt.Fprintf(&out, "%-40s not run: this kernel has no IPVS (/proc/net/ip_vs missing), so swarm virtual IPs time out here\n", "gateway: lb=vip")
	}

	// Fairness: 10 replicas, requests over keep-alive connections.
	env.scale(10)
	time.Sleep(3 * time.Second)
	fmt.Fprintf(&out, "fairness: 10 replicas, %d requests over keep-alive connections, requests per replica max/min\n", size.fairN)
	for _, f := range []struct {
		name string
		port int
	}{{"gateway (swarm_round_robin, the default Caddyfile)", gatewayPort}, {"caddy: reverse_proxy <svc>:8080 (dnsrr)", svcnamePort}, {"caddy: dynamic a tasks.<svc>", refPort}} {
		s := loadgen.Summarize(loadgen.Run(t.Context(), loadgen.Config{
			BaseURL: localURL(f.port), Prefix: "/multiply", Rate: 500, Duration: time.Duration(size.fairN/500) * time.Second,
		}))
		if s.Failed > 0 {
			t.Errorf("fairness %s: %d failed: %v", f.name, s.Failed, s.Errors)
		}
		counts := slices.Sorted(maps.Values(s.PerReplica))
		verdict := ""
		if f.port == gatewayPort {
			if full {
				verdict = verdictOf(len(counts) == 10 && s.Spread() <= targetFairness, fmt.Sprintf("≤ %.2f over 10 replicas", targetFairness))
			}
			if len(counts) != 10 {
				t.Errorf("gateway spread over %d replicas, want 10", len(counts))
			}
		}
		fmt.Fprintf(&out, "  %-46s replicas %2d  max/min %5.2f  %v %s\n", f.name, len(counts), s.Spread(), counts, verdict)
	}

	// Memory with many routes, last, so the route services do not slow
	// the scaling above. A fresh gateway process, so that the heap the load
	// grew does not count; compared with stock Caddy's idle figure.
	gwLoaded := rssMB(t, gatewaySv)
	mustDocker(t, "service", "update", "--force", "--detach=false", gatewaySv)
	eventually(t, "restarted gateway answers", time.Minute, func() error { _, err := add(); return err })
	since := time.Now()
	createRoutes(t, cli, size.routes)
	eventually(t, fmt.Sprintf("gateway routes %d more services", size.routes), 3*time.Minute, func() error {
		if n := strings.Count(gatewayLogs(t, since), `"msg":"route added"`); n < size.routes {
			return fmt.Errorf("%d routes added", n)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	gwRoutes := rssMB(t, gatewaySv)
	memLine := fmt.Sprintf("memory (resident): stock caddy idle %.1f MB; gateway idle %.1f MB, %.1f MB after the load; a fresh gateway with %d routes %.1f MB (%+.1f MB over stock idle)",
		caddyIdle, gwIdle, gwLoaded, size.routes+1, gwRoutes, gwRoutes-caddyIdle)
	if full {
		memLine += " " + memVerdict(gwRoutes, caddyIdle+targetMemoryMB, memRes, fmt.Sprintf("≤ stock idle + %.0f MB", targetMemoryMB))
	}
	out.WriteString(memLine + "\n")
	t.Log("\n" + out.String())
	writeFile(t, "bench.txt", out.String())
	writeFile(t, "bench-rounds.tsv", roundsTSV(cs))
}

// memVerdict compares a resident size with its limit: PASS or MISS only
// when they differ by more than the A/A pair's memory resolution.
func memVerdict(mb, limit, res float64, target string) string {
	if math.Abs(mb-limit) <= res {
		return fmt.Sprintf("no verdict (%s, within the resolution ±%.1f MB)", target, res)
	}
	return verdictOf(mb <= limit, target)
}

// logLevelLine matches a log line at error or warning level: Caddy's JSON
// entries, and Traefik's console lines (ERR, WRN; coloured or not).
var logLevelLine = regexp.MustCompile(`"level":"(error|warn)"|(^|\s|\x1b\[[0-9;]*m)(ERR|WRN)(\s|\x1b|$)`)

// errorLines returns the last n error and warning lines of a service's
// log, for a failed request to be explained in the report; a log that
// cannot be read is said so, and the bench goes on.
func errorLines(t *testing.T, service string, n int) string {
	logs, err := readServiceLogs(t, service, time.Time{})
	if err != nil {
		return "  (log not read: " + err.Error() + ")"
	}
	var lines []string
	for _, line := range strings.Split(logs, "\n") {
		if logLevelLine.MatchString(line) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return "  (none)"
	}
	return "  " + strings.Join(lines[max(0, len(lines)-n):], "\n  ")
}
