package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/caddyserver/caddy/v2"
)

// observed is a gateway in this process with its admin endpoint on, in
// front of a fake swarm whose service multiply has three replicas, and a
// status page at /status.
type observed struct {
	fe          *fake.Engine
	cfg         []byte
	base, admin string
}

func newObserved(t *testing.T) *observed {
	t.Helper()
	port := startBackends(t, "127.0.0.10", "127.0.0.11", "127.0.0.12")
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{fake.Service("multiply", fake.Enabled("faas.port", fmt.Sprint(port)), fake.ServiceReplicas(3))}
	for i, a := range []string{"127.0.0.10", "127.0.0.11", "127.0.0.12"} {
		fe.Tasks = append(fe.Tasks, fake.Task("multiply", a, taskSlot(i+1)))
	}
	listen, admin := freePort(t), freePort(t)
	o := &observed{fe: fe, base: fmt.Sprintf("http://127.0.0.1:%d", listen), admin: fmt.Sprintf("http://localhost:%d", admin)}
	o.cfg = adaptCaddyfile(t, fmt.Sprintf(`{
		admin localhost:%d
		persist_config off
	}
	:%d {
		handle /status {
			swarm_status {
				docker_host %s
			}
		}
		# The routes API on this site, as docs/observability.md shows it.
		handle /swarm/* {
			reverse_proxy localhost:%d {
				header_up Host localhost:%d
			}
		}
		swarm_route {
			docker_host %s
		}
		reverse_proxy {
			dynamic swarm {
				docker_host %s
			}
			lb_policy round_robin
		}
	}`, admin, listen, fe.Host(), admin, admin, fe.Host(), fe.Host()))
	loadCaddy(t, o.cfg)
	gf := &gatewayFixture{fe: fe, base: o.base}
	gf.waitFor(t, "/multiply/", http.StatusOK)
	return o
}

// fetch GETs url and returns the body of its 200 answer.
func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// scrape parses the admin endpoint's /metrics with the Prometheus text
// parser.
func (o *observed) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(fetch(t, o.admin+"/metrics"))))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// replicaCounts returns multiply's per-replica request counts by task.
func (o *observed) replicaCounts(t *testing.T) map[string]float64 {
	t.Helper()
	counts := make(map[string]float64)
	for k, v := range seriesBy(o.scrape(t)["faas_gateway_replica_requests_total"], "service", "task") {
		if svc, task, _ := strings.Cut(k, ","); svc == "multiply" {
			counts[task] = v
		}
	}
	return counts
}

func sum(m map[string]float64) (n float64) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestObservabilityThroughCaddy checks the metrics on Caddy's admin
// endpoint, the routes API and the status page of a gateway running in
// this process, across a config reload and a scale-down.
func TestObservabilityThroughCaddy(t *testing.T) {
	o := newObserved(t)
	// newObserved waited for a 200: the requests sent since come on top.
	const sent = 30.0
	before := sum(o.replicaCounts(t))
	if before < 1 {
		t.Fatalf("the first request was not counted: %v", before)
	}
	for range int(sent - before) {
		if code, body := (&gatewayFixture{base: o.base}).get(t, "/multiply/"); code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
	}
	(&gatewayFixture{base: o.base}).get(t, "/nobody") // a 404 of no route is not counted

	counts := o.replicaCounts(t)
	if len(counts) != 3 || sum(counts) != sent {
		t.Errorf("replica requests = %v, want 3 replicas summing to %v", counts, sent)
	}
	if n := seriesBy(o.scrape(t)["faas_gateway_requests_total"], "service", "status_class")["multiply,2xx"]; n != sent {
		t.Errorf("2xx requests = %v, want %v", n, sent)
	}

	var routes routesView
	if err := json.Unmarshal(fetch(t, o.admin+"/swarm/routes"), &routes); err != nil {
		t.Fatal(err)
	}
	if len(routes.Routes) != 1 || len(routes.Routes[0].Replicas) != 3 || routes.Routes[0].Prefix != "/multiply" {
		t.Fatalf("routes = %+v", routes)
	}
	served := 0.0
	for _, r := range routes.Routes[0].Replicas {
		served += float64(r.Requests)
		if !strings.HasPrefix(r.Task, "multiply.") || r.Address == "" || r.TaskID == "" {
			t.Errorf("replica %+v lacks its task or address", r)
		}
	}
	if served != sent {
		t.Errorf("routes API: replicas served %v, want %v", served, sent)
	}
	var status statusView
	if err := json.Unmarshal(fetch(t, o.admin+"/swarm/status"), &status); err != nil {
		t.Fatal(err)
	}
	if proxied := fetch(t, o.base+"/swarm/status"); !strings.Contains(string(proxied), `"first_sync_done":true`) {
		t.Errorf("the routes API through the site answers %s", proxied)
	}
	if !status.FirstSyncDone || status.LastSync == nil || !status.DockerAPI.Reachable {
		t.Errorf("status = %+v", status)
	}

	page := string(fetch(t, o.base+"/status"))
	if !strings.Contains(page, "<script>") || strings.Contains(page, "src=\"http") {
		t.Errorf("status page is not one self-contained page:\n%.300s", page)
	}
	var answer statusAnswer
	if err := json.Unmarshal(fetch(t, o.base+"/status?json"), &answer); err != nil || len(answer.Routes.Routes) != 1 {
		t.Errorf("status page data = %+v (%v)", answer, err)
	}

	// A reload makes a new metrics registry: the counts are exported
	// there, kept, and once.
	if err := caddy.Load(o.cfg, true); err != nil {
		t.Fatalf("reloading: %v", err)
	}
	if got := o.replicaCounts(t); sum(got) != sent || len(got) != 3 {
		t.Errorf("after a reload, replica requests = %v, want 3 summing to %v", got, sent)
	}

	// Scaled to one: the two gone replicas are no longer exported.
	o.fe.Update(func(fe *fake.Engine) {
		fe.Tasks[1].DesiredState = swarm.TaskStateShutdown
		fe.Tasks[2].DesiredState = swarm.TaskStateShutdown
		*fe.Services[0].Spec.Mode.Replicated.Replicas = 1
	})
	eventually(t, 3*time.Second, "scale-down in the metrics", func() error {
		if got := o.replicaCounts(t); len(got) != 1 {
			return fmt.Errorf("replicas exported: %v", got)
		}
		return nil
	})
}
