// Tests of the answers: what of /services, /tasks and /networks leaves
// the manager, that dockerd's errors pass unchanged, and that /events
// streams with its filters forced.

package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// secretMark is in every value of the fixtures that must not leave the
// manager: environment, arguments, mounts, secrets, other labels.
const secretMark = "s3cr3t"

// get sends GET target through a default filter and checks that the
// answer is 200 JSON of the right length with no secret in it.
func get(t *testing.T, d *fakeDockerd, target string) []byte {
	t.Helper()
	w, err := do(t, newFilter(t, ""), d, "GET", target, http.Header{"Accept-Encoding": {"gzip"}})
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %q", target, w.Code, err, w.Body)
	}
	body := w.Body.Bytes()
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, body %d bytes", cl, len(body))
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if i := bytes.Index(body, []byte(secretMark)); i >= 0 {
		t.Errorf("GET %s: a secret left the manager: ...%s...", target, body[max(0, i-80):min(len(body), i+40)])
	}
	return body
}

// decode decodes a fixture or an answer into the Docker API's own types.
func decode[T any](t *testing.T, b []byte) []T {
	t.Helper()
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestServicesAnswer(t *testing.T) {
	d := newFakeDockerd(t)
	got := decode[swarm.Service](t, get(t, d, "/v1.41/services?status=true"))
	all := decode[swarm.Service](t, fixture(t, "services.json"))

	// faas_db has no faas.enable label: it is not listed at all.
	want := []swarm.Service{all[0], all[2]}
	if len(got) != len(want) {
		t.Fatalf("got %d services, want %d (the labelled ones)", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		t.Run(w.Spec.Name, func(t *testing.T) {
			// What the gateway reads, and what it needs next.
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"ID", g.ID, w.ID},
				{"Version", g.Version, w.Version},
				{"CreatedAt", g.CreatedAt, w.CreatedAt},
				{"UpdatedAt", g.UpdatedAt, w.UpdatedAt},
				{"Spec.Name", g.Spec.Name, w.Spec.Name},
				{"Spec.Mode", g.Spec.Mode, w.Spec.Mode},
				{"Spec.TaskTemplate.Networks", g.Spec.TaskTemplate.Networks, w.Spec.TaskTemplate.Networks},
				{"Spec.EndpointSpec", g.Spec.EndpointSpec, endpointMode(w.Spec.EndpointSpec)},
				{"Endpoint.VirtualIPs", g.Endpoint.VirtualIPs, w.Endpoint.VirtualIPs},
				{"Endpoint.Ports", g.Endpoint.Ports, w.Endpoint.Ports},
				{"UpdateStatus.State", updateState(g.UpdateStatus), updateState(w.UpdateStatus)},
				{"ServiceStatus", g.ServiceStatus, w.ServiceStatus},
				{"Spec.Labels", g.Spec.Labels, routingLabels(w.Spec.Labels, "faas")},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s = %+v, want %+v", f.name, f.got, f.want)
				}
			}
			// And nothing else.
			for _, f := range []struct {
				name string
				zero bool
			}{
				{"Spec.TaskTemplate.ContainerSpec", g.Spec.TaskTemplate.ContainerSpec == nil},
				{"Spec.TaskTemplate.Placement", g.Spec.TaskTemplate.Placement == nil},
				{"Spec.TaskTemplate.LogDriver", g.Spec.TaskTemplate.LogDriver == nil},
				{"Spec.UpdateConfig", g.Spec.UpdateConfig == nil},
				{"PreviousSpec", g.PreviousSpec == nil},
				{"Endpoint.Spec", reflect.ValueOf(g.Endpoint.Spec).IsZero()},
				{"UpdateStatus.Message", g.UpdateStatus == nil || g.UpdateStatus.Message == ""},
			} {
				if !f.zero {
					t.Errorf("%s left the manager", f.name)
				}
			}
		})
	}
}

func TestServicesAnswerLabelPrefix(t *testing.T) {
	d := newFakeDockerd(t)
	w, err := do(t, newFilter(t, "other"), d, "GET", "/services", nil)
	if err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
	if got := decode[swarm.Service](t, w.Body.Bytes()); len(got) != 0 {
		t.Errorf("with label_prefix other, got %d services, want none", len(got))
	}
}

func TestTasksAnswer(t *testing.T) {
	d := newFakeDockerd(t)
	got := decode[swarm.Task](t, get(t, d, "/v1.41/tasks?filters=%7B%22desired-state%22%3A%7B%22running%22%3Atrue%7D%7D"))

	// docker-api asked for the labelled services, on the same API version.
	var sub *url.URL
	for _, c := range d.allCalls() {
		if strings.HasSuffix(c.Path, "/services") {
			sub = c
		}
	}
	if sub == nil || sub.Path != "/v1.41/services" {
		t.Fatalf("docker-api listed services with %v, want GET /v1.41/services", sub)
	}
	if args, err := filters.FromJSON(sub.Query().Get("filters")); err != nil || !args.ExactMatch("label", "faas.enable") || args.Len() != 1 {
		t.Errorf("service list filters %q, want label=faas.enable only", sub.Query().Get("filters"))
	}

	var want []swarm.Task
	for _, tk := range decode[swarm.Task](t, fixture(t, "tasks.json")) {
		if tk.ServiceID != "q2lz9q9t0s0w0b6b5e6o1l7m4" { // faas_db, not labelled
			want = append(want, tk)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tasks, want %d (those of labelled services)", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		t.Run(w.ID, func(t *testing.T) {
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"ID", g.ID, w.ID},
				{"ServiceID", g.ServiceID, w.ServiceID},
				{"NodeID", g.NodeID, w.NodeID},
				{"Slot", g.Slot, w.Slot},
				{"CreatedAt", g.CreatedAt, w.CreatedAt},
				{"DesiredState", g.DesiredState, w.DesiredState},
				{"Status.State", g.Status.State, w.Status.State},
				{"Status.Timestamp", g.Status.Timestamp, w.Status.Timestamp},
				{"NetworksAttachments", g.NetworksAttachments, attachments(w.NetworksAttachments)},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s = %+v, want %+v", f.name, f.got, f.want)
				}
			}
			for _, f := range []struct {
				name string
				zero bool
			}{
				{"Spec", reflect.ValueOf(g.Spec).IsZero()},
				{"Status.ContainerStatus", g.Status.ContainerStatus == nil},
				{"Status.Message", g.Status.Message == ""},
				{"Volumes", g.Volumes == nil},
				{"GenericResources", g.GenericResources == nil},
			} {
				if !f.zero {
					t.Errorf("%s left the manager", f.name)
				}
			}
		})
	}
}

func TestNetworksAnswer(t *testing.T) {
	d := newFakeDockerd(t)
	got := decode[network.Summary](t, get(t, d, "/v1.41/networks?filters=%7B%22driver%22%3A%7B%22overlay%22%3Atrue%7D%7D"))
	var want []network.Summary
	for _, n := range decode[network.Summary](t, fixture(t, "networks.json")) {
		kept := network.Summary{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope, Ingress: n.Ingress}
		for _, c := range n.IPAM.Config {
			kept.IPAM.Config = append(kept.IPAM.Config, network.IPAMConfig{Subnet: c.Subnet})
		}
		want = append(want, kept)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestErrorsPassThrough checks that dockerd's errors reach the client as
// they came, including when the service list docker-api makes for /tasks
// is refused.
func TestErrorsPassThrough(t *testing.T) {
	d := newFakeDockerd(t)
	f := newFilter(t, "")
	for _, target := range []string{"/v1.41/services", "/v1.41/tasks", "/v1.41/networks"} {
		for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadRequest} {
			t.Run(target+" "+strconv.Itoa(status), func(t *testing.T) {
				d.setFail(status)
				w, err := do(t, f, d, "GET", target, nil)
				if err != nil {
					t.Fatal(err)
				}
				if w.Code != status || !strings.Contains(w.Body.String(), "not a swarm manager") {
					t.Errorf("got %d %q, want dockerd's %d and message", w.Code, w.Body, status)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
		}
	}
	d.setFail(0)
	t.Run("404 from dockerd", func(t *testing.T) {
		// An endpoint in the allowlist that this dockerd does not know.
		old := Allowlist
		t.Cleanup(func() { Allowlist = old })
		Allowlist = append(slices.Clone(old), Endpoint{Methods: []string{"GET"}, Path: "/nowhere", answer: serviceAnswer})
		w, err := do(t, f, d, "GET", "/nowhere", nil)
		if err != nil || w.Code != http.StatusNotFound || w.Body.String() != `{"message":"page not found"}`+"\n" {
			t.Errorf("got %d %v %q, want dockerd's 404", w.Code, err, w.Body)
		}
	})
}

// TestUnfilterableAnswer checks that an answer docker-api cannot read is
// not sent on at all.
func TestUnfilterableAnswer(t *testing.T) {
	for _, tt := range []struct {
		name, body, encoding string
	}{
		{"not JSON", "SECRET_TOKEN=" + secretMark, ""},
		{"not a list", `{"Env":["SECRET_TOKEN=` + secretMark + `"]}`, ""},
		{"data after the list", `[] {"Env":["SECRET_TOKEN=` + secretMark + `"]}`, ""},
		{"compressed", `[]`, "gzip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := caddyhttpHandler(func(w http.ResponseWriter, r *http.Request) {
				if tt.encoding != "" {
					w.Header().Set("Content-Encoding", tt.encoding)
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				w.Write([]byte(tt.body))
			})
			w := httptest.NewRecorder()
			err := newFilter(t, "").ServeHTTP(w, httptest.NewRequest("GET", "/services", nil), next)
			if statusOf(err) != http.StatusBadGateway {
				t.Errorf("error %v, want a 502", err)
			}
			if w.Body.Len() != 0 || len(w.Header()) != 0 {
				t.Errorf("sent %v %q, want nothing", w.Header(), w.Body)
			}
		})
	}
}

// TestHead checks the one HEAD call: /_ping answers with headers only.
func TestHead(t *testing.T) {
	d := newFakeDockerd(t)
	w, err := do(t, newFilter(t, ""), d, "HEAD", "/_ping", nil)
	if err != nil || w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Api-Version") != "1.41" {
		t.Errorf("HEAD /_ping: %d %v %q %v", w.Code, err, w.Body, w.Header())
	}
}

// TestPassThrough checks that /_ping and /version answers are unchanged.
func TestPassThrough(t *testing.T) {
	d := newFakeDockerd(t)
	for target, want := range map[string]string{
		"/_ping":         "OK",
		"/v1.41/version": `{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}` + "\n",
	} {
		w, err := do(t, newFilter(t, ""), d, "GET", target, nil)
		if err != nil || w.Code != 200 || w.Body.String() != want {
			t.Errorf("GET %s: %d %v %q, want %q", target, w.Code, err, w.Body, want)
		}
	}
}

func TestEvents(t *testing.T) {
	d := newFakeDockerd(t)
	f := newFilter(t, "")
	tests := []struct {
		name, query string
		wantOther   map[string][]string // filters other than type
		wantParams  url.Values          // parameters other than filters
	}{
		{"gateway's own", `filters={"type":{"service":true}}`, nil, url.Values{}},
		{"no filter", ``, nil, url.Values{}},
		{"container and service events asked for", `filters={"type":["container","service"]}`, nil, url.Values{}},
		{"local scope asked for", `filters={"scope":["local"],"type":["network"]}`, nil, url.Values{}},
		{"legacy format, other filters kept", `filters={"type":["container","service"],"label":["faas.enable"]}&since=1777712400&until=1777712500&x=1`,
			map[string][]string{"label": {"faas.enable"}}, url.Values{"since": {"1777712400"}, "until": {"1777712500"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := httptest.NewRequest("GET", "/v1.41/events?"+q.Encode(), nil).WithContext(ctx)
			w := newStreamRecorder()
			done := make(chan error, 1)
			go func() { done <- f.ServeHTTP(w, r, proxyTo(d)) }()

			// The event arrives while the stream is still open.
			select {
			case <-w.flushed:
			case <-time.After(5 * time.Second):
				t.Fatal("no event flushed while the stream is open")
			}
			if !strings.Contains(w.body(), `"Type":"service"`) {
				t.Errorf("streamed %q, want the event", w.body())
			}
			cancel()
			<-done

			call := d.lastCallTo("/events")
			args, err := filters.FromJSON(call.Query().Get("filters"))
			if err != nil {
				t.Fatal(err)
			}
			types := args.Get("type")
			slices.Sort(types)
			if !slices.Equal(types, []string{"network", "service"}) {
				t.Errorf("dockerd got type filter %v, want network and service only", types)
			}
			if scope := args.Get("scope"); !slices.Equal(scope, []string{"swarm"}) {
				t.Errorf("dockerd got scope filter %v, want swarm only", scope)
			}
			for _, k := range args.Keys() {
				if k != "type" && k != "scope" && !slices.Equal(args.Get(k), tt.wantOther[k]) {
					t.Errorf("filter %s = %v, want %v", k, args.Get(k), tt.wantOther[k])
				}
			}
			params := call.Query()
			params.Del("filters")
			if !reflect.DeepEqual(params, tt.wantParams) {
				t.Errorf("dockerd got parameters %v, want %v", params, tt.wantParams)
			}
		})
	}
	t.Run("malformed filters", func(t *testing.T) {
		before := d.callCount()
		w, err := do(t, f, d, "GET", "/events?filters=%7Bnope", nil)
		if err != nil || w.Code != http.StatusBadRequest || d.callCount() != before {
			t.Errorf("got %d %v, want 400 without a call to dockerd", w.Code, err)
		}
	})
}

// What the fixtures' fields should become on the way out.

func endpointMode(s *swarm.EndpointSpec) *swarm.EndpointSpec {
	if s == nil {
		return nil
	}
	return &swarm.EndpointSpec{Mode: s.Mode}
}

func updateState(u *swarm.UpdateStatus) swarm.UpdateState {
	if u == nil {
		return ""
	}
	return u.State
}

func routingLabels(labels map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, prefix+".") || k == "com.docker.stack.namespace" {
			out[k] = v
		}
	}
	return out
}

func attachments(as []swarm.NetworkAttachment) []swarm.NetworkAttachment {
	var out []swarm.NetworkAttachment
	for _, a := range as {
		out = append(out, swarm.NetworkAttachment{Network: swarm.Network{ID: a.Network.ID}, Addresses: a.Addresses})
	}
	return out
}

// caddyhttpHandler is a next handler that never fails.
func caddyhttpHandler(f func(http.ResponseWriter, *http.Request)) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		f(w, r)
		return nil
	})
}

// statusOf is the status of a handler error, 0 if it has none.
func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// streamRecorder records a streamed answer and says when the first bytes
// of its body were flushed.
type streamRecorder struct {
	*httptest.ResponseRecorder
	mu      sync.Mutex
	flushed chan struct{}
	once    sync.Once
}

func newStreamRecorder() *streamRecorder {
	return &streamRecorder{ResponseRecorder: httptest.NewRecorder(), flushed: make(chan struct{})}
}

func (s *streamRecorder) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ResponseRecorder.Write(b)
}

func (s *streamRecorder) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ResponseRecorder.Flush()
	if s.Body.Len() > 0 {
		s.once.Do(func() { close(s.flushed) })
	}
}

func (s *streamRecorder) body() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Body.String()
}

// TestTasksOfSomeServices: a task listing filtered by service IDs (the
// gateway's converge polls) makes docker-api list only those services,
// not every labelled one; names instead of IDs keep the full list.
func TestTasksOfSomeServices(t *testing.T) {
	const id = "9mnpnzenvg8p8tdbtq4wvbkcz" // faas_multiply
	for _, tt := range []struct {
		name, services string
		wantIDs        []string
	}{
		{name: "by ID", services: `"` + id + `":true`, wantIDs: []string{id}},
		{name: "by name", services: `"faas_multiply":true`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDockerd(t)
			get(t, d, "/v1.41/tasks?filters="+url.QueryEscape(`{"desired-state":{"running":true},"service":{`+tt.services+`}}`))
			for _, c := range d.allCalls() {
				if !strings.HasSuffix(c.Path, "/services") {
					continue
				}
				args, err := filters.FromJSON(c.Query().Get("filters"))
				if err != nil || !args.ExactMatch("label", "faas.enable") || !slices.Equal(args.Get("id"), tt.wantIDs) {
					t.Errorf("service list filters %q, want label=faas.enable and ids %v", c.Query().Get("filters"), tt.wantIDs)
				}
			}
		})
	}
}
