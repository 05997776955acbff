package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// Benchmark targets, from the issues that asked for them.
const (
	targetThroughput = 1.35 // shipped gateway req/s ≥ 1.35 × baseline
	targetP50        = 1.00 // shipped gateway p50 at a fixed rate ≤ baseline's
	targetP99        = 1.05 // shipped gateway p99 at a fixed rate ≤ 1.05 × baseline's
	targetLoadedMB   = 30.0 // shipped gateway RSS after the load ≤ baseline's + 30 MB
	targetFairness   = 1.05 // max/min requests per replica, default policy
	targetMemoryMB   = 20.0 // gateway RSS with 1,000 routes ≤ stock Caddy idle + 20 MB
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
	size, name := benchSize{rounds: 2, wrkTime: 2 * time.Second, latTime: 2 * time.Second, fairN: 2000, routes: 50, connLimit: 32}, "CI-sized (BENCH=full for the full suite)"
	if os.Getenv("BENCH") == "full" {
		size, name = benchSize{rounds: 5, wrkTime: 5 * time.Second, latTime: 5 * time.Second, fairN: 10000, routes: 1000, connLimit: 32}, "full"
	}
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		size.rounds = n
	}
	return size, name
}

type contender struct {
	name, path string
	prefix     string // multiply's prefix on this contender
	port       int
	service    string    // the swarm service, for its resident memory
	rps        []float64 // per round
	p50, p99   []time.Duration
	p999       []time.Duration
	rssMB      float64         // after the load
	pid        string          // its process on this node
	cpuPerReq  []time.Duration // per round: the process's CPU time over wrk's requests
}

func (c *contender) url() string { return localURL(c.port) + c.path }

// ratioTo is the median over the rounds of c's throughput over b's in the
// same round: paired, so that a round the machine was busier for both
// counts once, not twice.
func (c *contender) ratioTo(b *contender) float64 {
	r := make([]float64, len(c.rps))
	for i := range r {
		r[i] = c.rps[i] / b.rps[i]
	}
	return median(r)
}

// cpuRatioTo is the median over the rounds of b's CPU time per request
// over c's in the same round: above 1 when c needs less, as a throughput
// ratio is above 1 when c serves more.
func (c *contender) cpuRatioTo(b *contender) float64 {
	r := make([]float64, len(c.cpuPerReq))
	for i := range r {
		r[i] = float64(b.cpuPerReq[i]) / float64(c.cpuPerReq[i])
	}
	return median(r)
}

// TestBench measures in one run the shipped gateway (the image and
// Caddyfile `make up` deploys), the same gateway without its tuning,
// each tuning lever alone, stock Caddy with hand-written upstreams (the
// baseline: the gateway's binary, built with stock Caddy's settings,
// running a static Caddyfile with Go's GC defaults), a ceiling (Go's own
// httputil reverse proxy and nothing else) and others: saturation throughput and
// latency at a fixed rate (rounds alternating A B C D, B C D A, ...), resident
// memory after that load, fairness over 10 replicas, and memory with many
// routes. Figures are ratios to the baseline measured in the same run. CI
// runs it with a few seconds of load and prints, without asserting, the
// timing figures. BENCH_GC="GOGC=200 GOGC=800,GOMEMLIMIT=64MiB" adds the
// shipped gateway with each of those settings, BENCH_CADDYFILES="a b" the
// shipped gateway with each of those Caddyfiles (absolute, or from the
// repository's root) instead of its own, beside gateway.caddy for its
// imports; BENCH_ROUNDS=10 runs that many rounds instead of 5 (the full
// bench) or 2.
func TestBench(t *testing.T) {
	requireSwarm(t)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		unavailable(t, "wrk is not installed (apt-get install wrk)")
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
	deployStack(t, "stack.yml", "e2e/testdata/reference.yml", "e2e/testdata/bench.yml")
	cli := newDockerClient(t)
	clock := watchTasks(t, cli, multiplySv)
	env := &scenarioEnv{t: t, clock: clock}
	env.scale(3)
	// The shipped binary is built as stock Caddy is (xcaddy's flags, no
	// PGO): run with Go's GC defaults and a static Caddyfile, it is the
	// baseline.
	startStatic(t, cli, gatewayImage)

	// The levers, each alone and with the other: the image's GC settings
	// and the Caddyfile's lazy log encoder; and PGO, which is not shipped,
	// added to the shipped gateway.
	shippedGC := imageEnv(t, gatewayImage, "GOGC", "GOMEMLIMIT")
	goDefaults := []string{"GOGC=100"}
	var gateways []*contender
	if full {
		eager := caddyfileVariant(t, lazyLog, "")
		gateways = []*contender{
			{name: "gateway: untuned (GC defaults, eager log)", port: untunedPort, service: startGatewayWith(t, "untuned", gatewayImage, untunedPort, eager, goDefaults...)},
			{name: "gateway: lazy log only", port: lazyOnlyPort, service: startGateway(t, "lazy_only", gatewayImage, lazyOnlyPort, goDefaults...)},
			{name: "gateway: GC settings only", port: gcOnlyPort, service: startGatewayWith(t, "gc_only", gatewayImage, gcOnlyPort, eager, shippedGC...)},
			{name: "gateway: shipped, built with PGO", port: pgoPort, service: startGateway(t, "pgo", pgoImage, pgoPort)},
			// How far a Go proxy can go here with nothing but proxying.
			{name: "ceiling: Go's httputil proxy, static upstreams", port: barePort,
				service: startService(t, "bareproxy", bareproxyImage, barePort, nil, append([]string{"-strip", "/multiply"}, taskAddrs(t, cli)...)...)},
		}
	}
	noMetrics := startNoMetrics(t)
	gateways = append(gateways, noMetrics)
	for i, v := range strings.Fields(os.Getenv("BENCH_GC")) {
		port, vars := gcPort+i, strings.Split(v, ",")
		gateways = append(gateways, &contender{name: "gateway: shipped, " + strings.Join(vars, " "), port: port,
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
		gateways = append(gateways, &contender{name: "gateway: shipped, " + filepath.Base(file), port: port,
			service: startGatewayWith(t, fmt.Sprintf("caddyfile%d", i), gatewayImage, port, files)})
	}

	const addPath = "/api/v1/add?x=10&y=25"
	baseline := &contender{name: "baseline: stock caddy, static upstreams", port: staticPort, service: stackName + "_static"}
	shipped := &contender{name: fmt.Sprintf("gateway: shipped (lazy log, %s)", strings.Join(shippedGC, " ")), port: gatewayPort, service: gatewaySv}
	cs := append([]*contender{baseline, shipped}, gateways...)
	cs = append(cs,
		&contender{name: "caddy: dynamic a tasks.<svc>", port: refPort, service: stackName + "_reference"},
		&contender{name: "direct: one multiply replica", port: directPort, path: addPath, service: stackName + "_direct"})
	for _, c := range cs {
		if c.path == "" {
			c.prefix, c.path = "/multiply", "/multiply"+addPath
		}
		eventually(t, c.name+" answers", 2*time.Minute, func() error {
			code, body, err := getFrom(localURL(c.port), c.path)
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d: %s", code, body)
			}
			return err
		})
	}
	time.Sleep(2 * time.Second)

	// Idle memory first, before any load has grown a heap.
	caddyIdle := rssMB(t, baseline.service)
	gwIdle := rssMB(t, gatewaySv)

	var out strings.Builder
	fmt.Fprintf(&out, "bench (%s): %d rounds, contenders alternating, each round starting one later; wrk -t2 -c%d for %s each; ratios are the median of each round's ratio to that round's baseline\n",
		sizeName, size.rounds, size.connLimit, size.wrkTime)

	// Saturation throughput, after a second of warm-up each (connections,
	// heap), not counted.
	// The CPU time each proxy's process spends per request is measured
	// too: unlike throughput, it hardly depends on what else the two cores
	// are running.
	for _, c := range cs {
		c.pid = servicePID(t, c.service)
		if _, err := runWrk(wrk, c.url(), size.connLimit, time.Second); err != nil {
			t.Fatalf("%s warm-up: %v", c.name, err)
		}
	}
	for r := range size.rounds {
		// Each round starts one contender later, so that no contender
		// always runs at the same point of a round (after the same other).
		for i := range cs {
			c := cs[(i+r)%len(cs)]
			cpu := cpuTime(t, c.pid)
			res, err := runWrk(wrk, c.url(), size.connLimit, size.wrkTime)
			if err != nil {
				t.Fatalf("%s round %d: %v", c.name, r, err)
			}
			if res.non2xx > 0 {
				t.Errorf("%s round %d: %d responses were not 2xx", c.name, r, res.non2xx)
			}
			c.rps = append(c.rps, res.rps)
			c.cpuPerReq = append(c.cpuPerReq, (cpuTime(t, c.pid)-cpu)/time.Duration(res.requests))
		}
	}

	// Latency at a fixed rate well below saturation: a quarter of the
	// baseline's, at most 1,000/s (vegeta needs more CPU per request than
	// wrk, and shares the two cores).
	rate := min(1000, max(50, int(median(baseline.rps)/4)))
	for r := range size.rounds {
		for i := range cs {
			c := cs[(i+r)%len(cs)]
			recs := loadgen.Run(context.Background(), loadgen.Config{BaseURL: localURL(c.port), Prefix: c.prefix, Rate: rate, Duration: size.latTime})
			s := loadgen.Summarize(recs)
			if s.Failed > 0 {
				t.Errorf("%s at %d req/s: %d of %d failed: %v", c.name, rate, s.Failed, s.Sent, s.Errors)
			}
			c.p50, c.p99, c.p999 = append(c.p50, s.P50), append(c.p99, s.P99), append(c.p999, s.P999)
		}
	}
	for _, c := range cs {
		c.rssMB = rssMB(t, c.service)
	}
	for _, g := range gateways { // done: their CPU is the other contenders' from here on
		_, _ = docker(t, time.Minute, "service", "rm", g.service)
	}

	out.WriteString(benchTable(cs, rate))
	noise := (slices.Max(baseline.rps) - slices.Min(baseline.rps)) / median(baseline.rps)
	fmt.Fprintf(&out, "noise: the baseline's rounds spread over %.0f%% of its median; shipped/baseline per round %s\n", 100*noise, roundRatios(shipped, baseline))
	if full {
		out.WriteString(leversTable(shipped, baseline, gateways[0], gateways[1], gateways[2], gateways[3]))
	}
	tp := shipped.ratioTo(baseline)
	p50 := float64(median(shipped.p50)) / float64(median(baseline.p50))
	p99 := float64(median(shipped.p99)) / float64(median(baseline.p99))
	fmt.Fprintf(&out, "shipped gateway: CPU per request %.3f × less than the baseline's; throughput %.3f × baseline %s; p50 %.3f × %s; p99 %.3f × %s; after the load %.1f MB, baseline %.1f MB (%+.1f MB) %s\n",
		shipped.cpuRatioTo(baseline), tp, verdictOf(tp >= targetThroughput, fmt.Sprintf("≥ %.2f", targetThroughput)),
		p50, verdictOf(p50 <= targetP50, fmt.Sprintf("≤ %.2f", targetP50)),
		p99, verdictOf(p99 <= targetP99, fmt.Sprintf("≤ %.2f", targetP99)),
		shipped.rssMB, baseline.rssMB, shipped.rssMB-baseline.rssMB,
		verdictOf(shipped.rssMB <= baseline.rssMB+targetLoadedMB, fmt.Sprintf("≤ baseline + %.0f MB", targetLoadedMB)))
	if full && (tp < targetThroughput || p50 > targetP50 || p99 > targetP99 || shipped.rssMB > baseline.rssMB+targetLoadedMB) {
		t.Logf("shipped gateway missed a target: throughput ratio %.3f, p50 ratio %.3f, p99 ratio %.3f, %+.1f MB after the load", tp, p50, p99, shipped.rssMB-baseline.rssMB)
	}
	out.WriteString(metricsOverhead(shipped, noMetrics))
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
	}{{"gateway (round_robin, the default Caddyfile)", gatewayPort}, {"caddy: reverse_proxy <svc>:8080 (dnsrr)", svcnamePort}, {"caddy: dynamic a tasks.<svc>", refPort}} {
		s := loadgen.Summarize(loadgen.Run(context.Background(), loadgen.Config{
			BaseURL: localURL(f.port), Prefix: "/multiply", Rate: 500, Duration: time.Duration(size.fairN/500) * time.Second,
		}))
		if s.Failed > 0 {
			t.Errorf("fairness %s: %d failed: %v", f.name, s.Failed, s.Errors)
		}
		counts := make([]int, 0, len(s.PerReplica))
		for _, n := range s.PerReplica {
			counts = append(counts, n)
		}
		slices.Sort(counts)
		verdict := ""
		if f.port == gatewayPort {
			verdict = verdictOf(len(counts) == 10 && s.Spread() <= targetFairness, fmt.Sprintf("≤ %.2f over 10 replicas", targetFairness))
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
	memLine := fmt.Sprintf("memory (resident): stock caddy idle %.1f MB; gateway idle %.1f MB, %.1f MB after the load; a fresh gateway with %d routes %.1f MB (%+.1f MB over stock idle) %s\n",
		caddyIdle, gwIdle, gwLoaded, size.routes+1, gwRoutes, gwRoutes-caddyIdle,
		verdictOf(gwRoutes <= caddyIdle+targetMemoryMB, fmt.Sprintf("≤ stock idle + %.0f MB", targetMemoryMB)))
	if full && gwRoutes > caddyIdle+targetMemoryMB {
		t.Logf("gateway missed the memory target")
	}

	out.WriteString(memLine)
	t.Log("\n" + out.String())
	writeFile(t, "bench.txt", out.String())
}

func verdictOf(ok bool, target string) string {
	if ok {
		return "PASS (" + target + ")"
	}
	return "MISS (" + target + ")"
}

// benchTable prints the throughput and latency of each contender, with
// their ratios to the first, the baseline.
func benchTable(cs []*contender, rate int) string {
	var b strings.Builder
	base := cs[0]
	fmt.Fprintf(&b, "%-52s %22s %6s | %13s %6s | at %d req/s: %8s %8s %8s %6s %6s | %s\n",
		"contender", "req/s median (min-max)", "ratio", "CPU/request", "ratio", rate, "p50", "p99", "p99.9", "p50 ×", "p99 ×", "RSS after")
	for _, c := range cs {
		fmt.Fprintf(&b, "%-52s %8.0f (%5.0f-%5.0f) %6.3f | %11.1fµs %6.3f | %15s %8s %8s %8s %6.3f %6.3f | %6.1f MB\n",
			c.name, median(c.rps), slices.Min(c.rps), slices.Max(c.rps), c.ratioTo(base),
			float64(median(c.cpuPerReq))/1e3, c.cpuRatioTo(base), "",
			median(c.p50).Round(time.Microsecond), median(c.p99).Round(time.Microsecond), median(c.p999).Round(time.Microsecond),
			float64(median(c.p50))/float64(median(base.p50)), float64(median(c.p99))/float64(median(base.p99)), c.rssMB)
	}
	return b.String()
}

// roundRatios lists a's throughput over b's, round by round.
func roundRatios(a, b *contender) string {
	r := make([]string, len(a.rps))
	for i := range r {
		r[i] = fmt.Sprintf("%.2f", a.rps[i]/b.rps[i])
	}
	return "[" + strings.Join(r, " ") + "]"
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`([0-9]+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

// wrkResult is what the bench reads from wrk's output.
type wrkResult struct {
	rps              float64
	requests, non2xx int // non2xx: responses neither 2xx nor 3xx
}

// runWrk runs wrk against url.
func runWrk(wrk, url string, conns int, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "5s", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	m, n := wrkRPS.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		return wrkResult{}, fmt.Errorf("no Requests/sec or request count in wrk output:\n%s", out)
	}
	var res wrkResult
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	res.requests, _ = strconv.Atoi(string(n[1]))
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		res.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if res.requests == 0 {
		return res, fmt.Errorf("wrk: no request completed:\n%s", out)
	}
	return res, nil
}

// median returns the middle of the values (the upper middle of an even
// count), leaving v as it is.
func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// leversTable is the effect of each tuning lever, from the full bench's
// contenders: the untuned gateway, each of the two shipped levers alone,
// and the shipped gateway built with PGO.
func leversTable(shipped, baseline, untuned, lazyOnly, gcOnly, pgo *contender) string {
	var out strings.Builder
	fmt.Fprintf(&out, "levers (throughput ratio | CPU per request, inverse ratio; both paired by round):\n")
	for _, l := range []struct {
		name string
		a, b *contender
	}{
		{"lazy log, alone: lazy log only / untuned", lazyOnly, untuned},
		{"lazy log, with the GC settings: shipped / GC settings only", shipped, gcOnly},
		{"GC settings, alone: GC settings only / untuned", gcOnly, untuned},
		{"GC settings, with the lazy log: shipped / lazy log only", shipped, lazyOnly},
		{"both: shipped / untuned", shipped, untuned},
		{"PGO, added to the shipped gateway: built with PGO / shipped", pgo, shipped},
		{"the untuned gateway / stock caddy, static upstreams", untuned, baseline},
	} {
		fmt.Fprintf(&out, "  %-56s %6.3f | %6.3f\n", l.name, l.a.ratioTo(l.b), l.a.cpuRatioTo(l.b))
	}
	return out.String()
}

// startStatic runs the baseline: Caddy from image (the gateway's, built
// with stock Caddy's settings) with Go's GC defaults, and multiply's
// current task addresses written into its Caddyfile.
func startStatic(t *testing.T, cli taskLister, image string) {
	t.Helper()
	addrs := taskAddrs(t, cli)
	tmpl := template.Must(template.ParseFiles("testdata/static.Caddyfile.tmpl"))
	var cf bytes.Buffer
	if err := tmpl.Execute(&cf, map[string]string{"Upstreams": strings.Join(addrs, " ")}); err != nil {
		t.Fatal(err)
	}
	startService(t, "static", image, staticPort, append(caddyfileOpts(t, "static", caddyfileSet{"Caddyfile": cf.Bytes()}), "--env", "GOGC=100"), caddyfileArgs...)
}

// benchConfigDir is where caddyfileOpts mounts a contender's Caddyfile
// and the files it imports: a folder of their own, so that the Caddyfile's
// relative imports find these and not the image's /etc/caddy/gateway.caddy.
const benchConfigDir = "/etc/caddy/bench"

// caddyfileArgs run Caddy with the Caddyfile caddyfileOpts mounts.
var caddyfileArgs = []string{"run", "--config", benchConfigDir + "/Caddyfile", "--adapter", "caddyfile"}

// caddyfileSet is a Caddyfile ("Caddyfile") and the files beside it that it
// imports, by name.
type caddyfileSet map[string][]byte

// caddyfileOpts stores each file of a set as a swarm config, removed when
// the test ends, and returns the service create options that mount them in
// benchConfigDir, where caddyfileArgs read the Caddyfile.
func caddyfileOpts(t *testing.T, name string, files caddyfileSet) []string {
	t.Helper()
	if files["Caddyfile"] == nil {
		t.Fatalf("contender %s: no Caddyfile in its files", name)
	}
	var opts []string
	for file, content := range files {
		cfgName := fmt.Sprintf("%s_%s_%s_%d", stackName, name, file, time.Now().UnixNano())
		create := exec.Command("docker", "config", "create", cfgName, "-")
		create.Stdin = bytes.NewReader(content)
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("docker config create: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			for range 30 { // the config is in use until the service's task is gone
				if _, err := docker(t, time.Minute, "config", "rm", cfgName); err == nil {
					return
				}
				time.Sleep(time.Second)
			}
		})
		opts = append(opts, "--config", "source="+cfgName+",target="+benchConfigDir+"/"+file)
	}
	return opts
}

// startGateway runs a gateway from image with the image's Caddyfile, as
// the stack's gateway runs, with env added to the image's environment, and
// returns the service's name.
func startGateway(t *testing.T, name, image string, port int, env ...string) string {
	t.Helper()
	return startService(t, name, image, port, gatewayOpts(env))
}

// startGatewayWith runs a gateway as startGateway does, with files (a
// Caddyfile and what it imports) instead of the image's.
func startGatewayWith(t *testing.T, name, image string, port int, files caddyfileSet, env ...string) string {
	t.Helper()
	return startService(t, name, image, port, append(gatewayOpts(env), caddyfileOpts(t, name, files)...), caddyfileArgs...)
}

// lazyLog is the default Caddyfile's log block (in gateway.caddy's global
// options): the lazy log encoder.
const lazyLog = "\tlog {\n\t\tformat lazy\n\t}\n"

// gatewayCaddyfiles are the files of the default Caddyfile: the root
// Caddyfile and gateway.caddy, which it imports, from the repository's
// root.
var gatewayCaddyfiles = []string{"Caddyfile", "gateway.caddy"}

// shippedCaddyfileSet returns the default Caddyfile's files, as the image
// has them in /etc/caddy.
func shippedCaddyfileSet(t *testing.T) caddyfileSet {
	t.Helper()
	files := caddyfileSet{}
	for _, f := range gatewayCaddyfiles {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// caddyfileVariant returns the default Caddyfile's files with the one
// occurrence of old in them replaced by new: the same gateway with one
// setting changed.
func caddyfileVariant(t *testing.T, old, new string) caddyfileSet {
	t.Helper()
	files := shippedCaddyfileSet(t)
	var in []string
	for f, b := range files {
		for range strings.Count(string(b), old) {
			in = append(in, f)
		}
	}
	if len(in) != 1 {
		t.Fatalf("the default Caddyfile's files %v have %q %d times (in %v), want 1", gatewayCaddyfiles, old, len(in), in)
	}
	files[in[0]] = []byte(strings.Replace(string(files[in[0]]), old, new, 1))
	return files
}

// gatewayOpts are the service create options a gateway needs (the Docker
// socket, a manager node), with env added to the image's environment.
func gatewayOpts(env []string) []string {
	opts := []string{"--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly",
		"--constraint", "node.role==manager"}
	for _, e := range env {
		opts = append(opts, "--env", e)
	}
	return opts
}

// startService creates service <stack>_<name> from image on the stack's
// network, published on port in host mode, with the extra service create
// options and the image's command replaced by args if any, and removes it
// when the test ends.
func startService(t *testing.T, name, image string, port int, opts []string, args ...string) string {
	t.Helper()
	name = stackName + "_" + name
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", name) })
	create := append([]string{"service", "create", "--detach", "--name", name, "--network", stackName + "_net",
		"--publish", fmt.Sprintf("mode=host,published=%d,target=8081", port)}, opts...)
	mustDocker(t, append(append(create, image), args...)...)
	return name
}

// imageEnv returns the image's environment variables among keys, as
// KEY=value.
func imageEnv(t *testing.T, image string, keys ...string) []string {
	t.Helper()
	var env []string
	for kv := range strings.Lines(mustDocker(t, "image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", image)) {
		kv = strings.TrimSpace(kv)
		if k, _, _ := strings.Cut(kv, "="); slices.Contains(keys, k) {
			env = append(env, kv)
		}
	}
	return env
}

// The parts of the Docker client the bench uses.
type (
	// networkLister finds the stack's network.
	networkLister interface {
		NetworkList(context.Context, network.ListOptions) ([]network.Summary, error)
	}
	// taskLister reads task addresses.
	taskLister interface {
		networkLister
		TaskList(context.Context, swarm.TaskListOptions) ([]swarm.Task, error)
	}
	// serviceCreator creates services on the stack network.
	serviceCreator interface {
		networkLister
		ServiceCreate(context.Context, swarm.ServiceSpec, swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	}
)

// stackNetworkID returns the ID of the test stack's network.
func stackNetworkID(t *testing.T, cli networkLister) string {
	t.Helper()
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", stackName+"_net"))})
	if err != nil || len(nets) != 1 {
		t.Fatalf("finding the stack network: %v (%d found)", err, len(nets))
	}
	return nets[0].ID
}

// taskAddrs returns multiply's running task addresses on the stack network.
func taskAddrs(t *testing.T, cli taskLister) []string {
	netID := stackNetworkID(t, cli)
	tasks, err := cli.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", multiplySv), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, tk := range tasks {
		for _, a := range tk.NetworksAttachments {
			if a.Network.ID == netID && len(a.Addresses) > 0 {
				addrs = append(addrs, strings.Split(a.Addresses[0], "/")[0]+":8080")
			}
		}
	}
	if len(addrs) == 0 {
		t.Fatal("no multiply task addresses")
	}
	slices.Sort(addrs)
	return addrs
}

// createRoutes creates n services that opt in, with no replicas, each a
// route, and removes them when the test ends.
func createRoutes(t *testing.T, cli serviceCreator, n int) {
	t.Helper()
	netID := stackNetworkID(t, cli)
	zero := uint64(0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			spec := swarm.ServiceSpec{
				Annotations: swarm.Annotations{Name: fmt.Sprintf("%s_route%04d", stackName, i), Labels: map[string]string{
					"faas.enable": "true", "faas.port": "8080", "com.docker.stack.namespace": stackName + "routes",
				}},
				TaskTemplate: swarm.TaskSpec{
					ContainerSpec: &swarm.ContainerSpec{Image: multiplyImage},
					Networks:      []swarm.NetworkAttachmentConfig{{Target: netID}},
				},
				Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
			}
			if _, err := cli.ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		out, _ := docker(t, time.Minute, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stackName+"routes")
		if ids := strings.Fields(out); len(ids) > 0 {
			if _, err := docker(t, 5*time.Minute, append([]string{"service", "rm"}, ids...)...); err != nil {
				t.Errorf("removing route services: %v", err)
			}
		}
	})
	for err := range errs {
		t.Fatalf("creating route services: %v", err)
	}
}

// servicePID returns the main process of a service's (single) task on
// this node.
func servicePID(t *testing.T, service string) string {
	t.Helper()
	id := strings.TrimSpace(mustDocker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service))
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("want one container of %s, got %q", service, id)
	}
	return strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.Pid}}", id))
}

// cpuTime returns the CPU time (user and system, every thread) a process
// has used, from /proc/<pid>/stat, in the kernel's 10 ms ticks.
func cpuTime(t *testing.T, pid string) time.Duration {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, "(...)": state is the first,
	// utime and stime the 12th and 13th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = 10 * time.Millisecond // USER_HZ, 100 on Linux
	return time.Duration(utime+stime) * tick
}

// rssMB returns the resident memory of the main process of a service's
// (single) task on this node.
func rssMB(t *testing.T, service string) float64 {
	t.Helper()
	pid := servicePID(t, service)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+([0-9]+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmRSS for %s (pid %s)", service, pid)
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
