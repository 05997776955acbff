package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// observeURL is the gateway's metrics and status site (testdata/observe.yml).
var observeURL = localURL(observePort)

// scrape reads the gateway's /metrics with the Prometheus text parser.
func scrape() (map[string]*dto.MetricFamily, error) {
	return readMetrics(func(body io.Reader) (map[string]*dto.MetricFamily, error) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		return p.TextToMetricFamilies(body)
	})
}

// readMetrics reads the gateway's /metrics (the observability site,
// testdata/observe.yml) with read.
func readMetrics[T any](read func(io.Reader) (T, error)) (T, error) {
	var zero T
	resp, err := httpClient.Get(observeURL + "/metrics")
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return zero, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return read(resp.Body)
}

// series returns the values of a counter or gauge family whose labels
// include match, keyed by the value of label key ("" when key is "").
func series(mfs map[string]*dto.MetricFamily, name, key string, match map[string]string) map[string]float64 {
	out := make(map[string]float64)
	for _, m := range mfs[name].GetMetric() {
		labels := make(map[string]string)
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && labels[k] == v
		}
		if !ok {
			continue
		}
		v := m.GetCounter().GetValue()
		if m.Gauge != nil {
			v = m.GetGauge().GetValue()
		}
		out[labels[key]] += v
	}
	return out
}

// replicaRequests returns multiply's per-replica request counts, by task.
func replicaRequests(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := scrape()
	if err != nil {
		t.Fatal(err)
	}
	return series(mfs, "faas_gateway_replica_requests_total", "task", map[string]string{"service": multiplySv})
}

// discoveryValue returns the sum of a discovery metric's series.
func discoveryValue(name string) (float64, error) {
	mfs, err := scrape()
	if err != nil {
		return 0, err
	}
	n := 0.0
	for _, v := range series(mfs, name, "", nil) {
		n += v
	}
	return n, nil
}

// TestObservability checks the metrics and the status page on the real
// swarm: after a scale to 10 and 2,000 requests, 10 replicas whose counts
// add up to the requests sent (and match what each replica answered);
// after a scale to 1, only one replica exported; a Docker API outage in
// the reachability gauge and the error counter. The status page runs in
// headless Chromium meanwhile.
func TestObservability(t *testing.T) {
	requireSwarm(t)
	browser := requireChromium(t)
	makeCerts(t)
	deployStack(t, "stack.cluster.yml", "e2e/testdata/observe.yml")
	eventually(t, "gateway answers", 3*time.Minute, func() error { _, err := add(); return err })

	mustDocker(t, "service", "scale", "--detach", multiplySv+"=10")
	eventually(t, "10 replicas in the metrics", 2*time.Minute, func() error {
		mfs, err := scrape()
		if err != nil {
			return err
		}
		if n := series(mfs, "faas_gateway_replicas", "service", nil)[multiplySv]; n != 10 {
			return fmt.Errorf("faas_gateway_replicas = %v", n)
		}
		return nil
	})

	page := openStatusPage(t, browser)
	page.waitRows(t, 10)
	before := replicaRequests(t)
	if len(before) != 10 {
		t.Fatalf("%d replicas exported, want 10: %v", len(before), before)
	}

	// 400/s for 5s: 2,000, or a few fewer when the two cores are too busy
	// for the generator to keep its pace (it stops at the duration).
	const planned = 2000
	var recs []loadgen.Record
	var wg sync.WaitGroup
	wg.Go(func() {
		recs = loadgen.Run(context.Background(), loadgen.Config{BaseURL: baseURL, Prefix: "/multiply", Rate: 400, Duration: 5 * time.Second})
	})
	time.Sleep(1500 * time.Millisecond)
	first := page.shownCount(t)
	time.Sleep(2 * time.Second)
	if second := page.shownCount(t); second <= first {
		t.Errorf("the status page's counts did not grow under load: %d, then %d", first, second)
	}
	wg.Wait()
	sum := loadgen.Summarize(recs)
	sent := len(recs)
	if sent < planned*95/100 || sum.Failed > 0 {
		t.Fatalf("sent %d requests, %d failed (%v), want about %d sent and none failed", sent, sum.Failed, sum.Errors, planned)
	}

	after := replicaRequests(t)
	if len(after) != 10 {
		t.Errorf("%d replicas exported after the load, want 10: %v", len(after), after)
	}
	total := 0.0
	for task, n := range after {
		served := n - before[task]
		total += served
		// multiply answers with its task's full name, <task>.<task id>.
		answered := 0
		for id, c := range sum.PerReplica {
			if strings.HasPrefix(id, task+".") {
				answered += c
			}
		}
		if int(served) != answered {
			t.Errorf("replica %s: the metric counts %v requests, the replica answered %d", task, served, answered)
		}
	}
	if total != float64(sent) {
		t.Errorf("per-replica counts grew by %v in all, want the %d requests sent", total, sent)
	}
	page.waitCount(t, int(sumValues(after)))
	page.screenshot(t, filepath.Join("..", "build", "status-page.png"))
	page.checkConsole(t)

	mustDocker(t, "service", "scale", "--detach", multiplySv+"=1")
	eventually(t, "the 9 gone replicas no longer exported", time.Minute, func() error {
		if got := replicaRequests(t); len(got) != 1 {
			return fmt.Errorf("replicas exported: %v", got)
		}
		return nil
	})

	errsBefore, err := discoveryValue("faas_gateway_docker_api_errors_total")
	if err != nil {
		t.Fatal(err)
	}
	stopDockerAPI(t)
	eventually(t, "the outage in the metrics", time.Minute, func() error {
		up, err1 := discoveryValue("faas_gateway_docker_api_up")
		errs, err2 := discoveryValue("faas_gateway_docker_api_errors_total")
		if err1 != nil || err2 != nil || up != 0 || errs <= errsBefore {
			return fmt.Errorf("docker_api_up %v, errors %v (before %v), %v %v", up, errs, errsBefore, err1, err2)
		}
		return nil
	})
	startDockerAPI(t)
	eventually(t, "the Docker API back in the metrics", time.Minute, func() error {
		if up, err := discoveryValue("faas_gateway_docker_api_up"); err != nil || up != 1 {
			return fmt.Errorf("docker_api_up %v (%v)", up, err)
		}
		return nil
	})
}

func sumValues(m map[string]float64) (n float64) {
	for _, v := range m {
		n += v
	}
	return n
}

// requireChromium returns the path of the Chromium binary (Debian's
// `chromium` package, which .ci/run installs).
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	unavailable(t, "no chromium on PATH (Debian package chromium)")
	return ""
}

// statusPage is the gateway's status page open in headless Chromium.
type statusPage struct {
	ctx context.Context
	mu  sync.Mutex
	// problems are the console errors, warnings and uncaught exceptions.
	problems []string
}

// openStatusPage opens the status page in a new headless Chromium, which
// the test's cleanup stops, and records what the page logs to the console.
func openStatusPage(t *testing.T, browser string) *statusPage {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1100, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	p := &statusPage{ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return // the context ended
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				p.mu.Lock()
				p.problems = append(p.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cancelAlloc()
	})
	if err := p.do(30*time.Second, chromedp.Navigate(observeURL+"/status"), chromedp.WaitVisible(chromedp.CSS("#routes"))); err != nil {
		t.Fatalf("opening the status page: %v", err)
	}
	return p
}

// do runs actions on the page within timeout.
func (p *statusPage) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// count evaluates a JavaScript expression of a number on the page.
func (p *statusPage) count(t *testing.T, expr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return n
}

// shownRows is how many replicas the page shows.
func (p *statusPage) shownRows(t *testing.T) int {
	return p.count(t, `document.querySelectorAll("tr.replica").length`)
}

// shownCount is the sum of the request counts the page shows.
func (p *statusPage) shownCount(t *testing.T) int {
	return p.count(t, `[...document.querySelectorAll("tr.replica td.count")].reduce((n, td) => n + Number(td.textContent), 0)`)
}

func (p *statusPage) waitRows(t *testing.T, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("the status page shows %d replicas", want), 30*time.Second, func() error {
		if n := p.shownRows(t); n != want {
			return fmt.Errorf("it shows %d", n)
		}
		return nil
	})
}

func (p *statusPage) waitCount(t *testing.T, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("the status page counts %d requests", want), 30*time.Second, func() error {
		if n := p.shownCount(t); n != want {
			return fmt.Errorf("it counts %d", n)
		}
		return nil
	})
}

// screenshot saves a PNG of the page.
func (p *statusPage) screenshot(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot: %s", path)
}

// checkConsole fails the test for every console error, warning or
// uncaught exception of the page.
func (p *statusPage) checkConsole(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, msg := range p.problems {
		t.Errorf("status page console: %s", msg)
	}
}
