// A stand-in for dockerd (an httptest server answering from testdata/),
// and the filter under test in front of it, proxied the way docker-api's
// Caddyfile proxies.

package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/filters"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// fakeDockerd answers /_ping, /version, /services, /tasks, /networks,
// /containers/json, /containers/{id}/json and /events (one event, then
// holds the stream open) from testdata/, and GET /services/{id} and POST
// /services/{id}/update from its stored services; it records the calls
// it gets and the updates it takes. Any other path is 404, as in dockerd.
type fakeDockerd struct {
	*httptest.Server
	t *testing.T

	mu    sync.Mutex
	calls []*url.URL // with the method in Scheme, for short
	// fail, when set, answers every list call with this status.
	fail int
	// events are the lines /events streams (one service event by
	// default); beforeEvent, when set, runs before each is sent.
	events      []string
	beforeEvent func(i int)
	// unlabelled are services of the fixture whose enable label is gone.
	unlabelled map[string]bool
	// stored are the services GET /services/{id} answers and POST
	// /services/{id}/update changes, by ID: those of the fixture, read on
	// first use.
	stored map[string]map[string]any
	// updates are the bodies of the updates dockerd took.
	updates []update
	// conflicts is how many updates dockerd refuses as out of sequence,
	// each as if another client had updated the service first.
	conflicts int
}

// update is one POST /services/{id}/update dockerd took.
type update struct {
	id, version string
	query       url.Values
	header      http.Header
	spec        map[string]any
}

// aServiceEvent is the event /events streams by default.
const aServiceEvent = `{"Type":"service","Action":"update","Actor":{"ID":"9mnpnzenvg8p8tdbtq4wvbkcz","Attributes":{"name":"faas_multiply"}},"scope":"swarm","time":1777712441,"timeNano":1777712441908223457}`

func newFakeDockerd(t *testing.T) *fakeDockerd {
	t.Helper()
	d := &fakeDockerd{t: t, events: []string{aServiceEvent}, unlabelled: map[string]bool{}}
	d.Server = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *fakeDockerd) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	u := *r.URL
	u.Scheme = r.Method
	d.calls = append(d.calls, &u)
	fail, lines, before := d.fail, d.events, d.beforeEvent
	d.mu.Unlock()

	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Server", "Docker/20.10.24 (linux)")
	p := versionPrefix.ReplaceAllString(r.URL.Path, "")
	switch p {
	case "/_ping":
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodHead {
			return
		}
		io.WriteString(w, "OK")
	case "/version":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}`+"\n")
	case "/services", "/tasks", "/networks":
		w.Header().Set("Content-Type", "application/json")
		if fail != 0 {
			w.WriteHeader(fail)
			io.WriteString(w, `{"message":"This node is not a swarm manager. Use \"docker swarm init\" to initialize."}`+"\n")
			return
		}
		if p == "/services" && r.URL.Query().Get("filters") != "" {
			// The label filter docker-api itself sends.
			w.Write(d.services(r.URL.Query().Get("filters")))
			return
		}
		if p == "/tasks" {
			if missing := d.missingService(r.URL.Query().Get("filters")); missing != "" {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"message":"service %s not found"}`+"\n", missing)
				return
			}
		}
		w.Write(fixture(d.t, strings.TrimPrefix(p, "/")+".json"))
	case "/containers/json":
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture(d.t, "containers.json"))
	case "/events":
		w.Header().Set("Content-Type", "application/json")
		for i, line := range lines {
			if before != nil {
				before(i)
			}
			io.WriteString(w, line+"\n")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	default:
		w.Header().Set("Content-Type", "application/json")
		if id, ok := strings.CutPrefix(p, "/containers/"); ok && strings.HasSuffix(id, "/json") {
			d.inspect(w, strings.TrimSuffix(id, "/json"))
			return
		}
		if id, ok := strings.CutPrefix(p, "/services/"); ok && r.Method == http.MethodGet && !strings.Contains(id, "/") {
			d.inspectService(w, id)
			return
		}
		if id, ok := strings.CutPrefix(p, "/services/"); ok && r.Method == http.MethodPost && strings.HasSuffix(id, "/update") {
			d.updateService(w, r, strings.TrimSuffix(id, "/update"))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"page not found"}`+"\n")
	}
}

// inspect answers GET /containers/{id}/json as dockerd does, from the
// containers of the fixture, with secrets in what the gateway does not
// read.
func (d *fakeDockerd) inspect(w http.ResponseWriter, id string) {
	var all []map[string]any
	if err := json.Unmarshal(fixture(d.t, "containers.json"), &all); err != nil {
		d.t.Fatal(err)
	}
	for _, c := range all {
		if c["Id"] != id {
			continue
		}
		json.NewEncoder(w).Encode(map[string]any{
			"Id": id, "Name": c["Names"].([]any)[0], "Path": "s3cr3t", "Args": []string{"--password=s3cr3t"},
			"Config":     map[string]any{"Labels": c["Labels"], "StopSignal": "SIGQUIT", "Env": []string{"PASSWORD=s3cr3t"}, "Image": "s3cr3t"},
			"HostConfig": map[string]any{"Binds": []string{"/home/s3cr3t:/data"}},
		})
		return
	}
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"message":"No such container: %s"}`+"\n", id)
}

// storedService returns the stored service of ID, ID prefix or name v,
// or nil; d.mu is held.
func (d *fakeDockerd) storedService(v string) map[string]any {
	if d.stored == nil {
		var all []map[string]any
		dec := json.NewDecoder(strings.NewReader(string(fixture(d.t, "services.json"))))
		dec.UseNumber()
		if err := dec.Decode(&all); err != nil {
			d.t.Fatal(err)
		}
		d.stored = map[string]map[string]any{}
		for _, svc := range all {
			d.stored[svc["ID"].(string)] = svc
		}
	}
	for id, svc := range d.stored {
		if id == v || svc["Spec"].(map[string]any)["Name"] == v || len(v) >= 3 && strings.HasPrefix(id, v) {
			return svc
		}
	}
	return nil
}

// inspectService answers GET /services/{id} as dockerd does: the whole
// service, secrets and all.
func (d *fakeDockerd) inspectService(w http.ResponseWriter, v string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc := d.storedService(v)
	if svc == nil {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"service %s not found"}`+"\n", v)
		return
	}
	if d.unlabelled[svc["ID"].(string)] {
		delete(svc["Spec"].(map[string]any)["Labels"].(map[string]any), "faas.enable")
	}
	json.NewEncoder(w).Encode(svc)
}

// updateService takes POST /services/{id}/update?version=N as dockerd
// does: the spec in the body replaces the service's, if N is still its
// version; it is refused as out of sequence otherwise.
func (d *fakeDockerd) updateService(w http.ResponseWriter, r *http.Request, id string) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var spec map[string]any
	if err := dec.Decode(&spec); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"message":%q}`+"\n", err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	svc := d.storedService(id)
	if svc == nil || svc["ID"] != id {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"service %s not found"}`+"\n", id)
		return
	}
	version := svc["Version"].(map[string]any)
	index, _ := version["Index"].(json.Number).Int64()
	if d.conflicts > 0 {
		d.conflicts--
		index++ // another client's update came first
		version["Index"] = json.Number(fmt.Sprint(index))
	}
	if r.URL.Query().Get("version") != fmt.Sprint(index) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"rpc error: code = Unknown desc = update out of sequence"}`+"\n")
		return
	}
	d.updates = append(d.updates, update{id: id, version: r.URL.Query().Get("version"), query: r.URL.Query(), header: r.Header.Clone(), spec: spec})
	svc["Spec"] = spec
	version["Index"] = json.Number(fmt.Sprint(index + 1))
	io.WriteString(w, `{"Warnings":null}`+"\n")
}

// services answers a service listing filtered as dockerd filters by label
// key and ID prefix.
func (d *fakeDockerd) services(query string) []byte {
	args, err := filters.FromJSON(query)
	if err != nil {
		d.t.Errorf("service filters %q: %v", query, err)
	}
	var all []map[string]any
	if err := json.Unmarshal(fixture(d.t, "services.json"), &all); err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []map[string]any{}
	for _, svc := range all {
		id := svc["ID"].(string)
		labels := svc["Spec"].(map[string]any)["Labels"].(map[string]any)
		if d.unlabelled[id] {
			delete(labels, "faas.enable")
		}
		keep := true
		for _, key := range args.Get("label") {
			_, has := labels[key]
			keep = keep && has
		}
		if ids := args.Get("id"); len(ids) > 0 {
			keep = keep && slices.ContainsFunc(ids, func(p string) bool { return strings.HasPrefix(id, p) })
		}
		if keep {
			out = append(out, svc)
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// missingService returns a service a task listing's filters name that
// the fixture does not have (by full ID or name), as dockerd refuses it.
func (d *fakeDockerd) missingService(query string) string {
	args, _ := filters.FromJSON(query)
	var all []struct {
		ID   string
		Spec struct{ Name string }
	}
	if err := json.Unmarshal(fixture(d.t, "services.json"), &all); err != nil {
		d.t.Fatal(err)
	}
	for _, v := range args.Get("service") {
		if !slices.ContainsFunc(all, func(s struct {
			ID   string
			Spec struct{ Name string }
		}) bool {
			return s.ID == v || s.Spec.Name == v
		}) {
			return v
		}
	}
	return ""
}

// setLabels sets labels on stored service id.
func (d *fakeDockerd) setLabels(id string, labels map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ls := d.storedService(id)["Spec"].(map[string]any)["Labels"].(map[string]any)
	for k, v := range labels {
		ls[k] = v
	}
}

// service returns a copy of stored service id.
func (d *fakeDockerd) service(id string) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, _ := json.Marshal(d.storedService(id))
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out map[string]any
	dec.Decode(&out)
	return out
}

// takenUpdates returns the updates dockerd took.
func (d *fakeDockerd) takenUpdates() []update {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.updates)
}

// dropLabel makes service id lose its enable label.
func (d *fakeDockerd) dropLabel(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unlabelled[id] = true
}

// lastCall returns the last call dockerd got, or nil.
func (d *fakeDockerd) lastCall() *url.URL {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.calls) == 0 {
		return nil
	}
	return d.calls[len(d.calls)-1]
}

// lastCallTo returns the last call dockerd got on path (without its
// version prefix), or nil.
func (d *fakeDockerd) lastCallTo(path string) *url.URL {
	calls := d.allCalls()
	for i := len(calls) - 1; i >= 0; i-- {
		if versionPrefix.ReplaceAllString(calls[i].Path, "") == path {
			return calls[i]
		}
	}
	return nil
}

// allCalls returns the calls dockerd got.
func (d *fakeDockerd) allCalls() []*url.URL {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// setFail makes dockerd answer every list call with status (0: answer).
func (d *fakeDockerd) setFail(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = status
}

// callCount returns how many calls dockerd got.
func (d *fakeDockerd) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// fixture reads a file of testdata/.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newFilter provisions a filter with the given label prefix ("" for the default).
func newFilter(t *testing.T, labelPrefix string) *Filter {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	f := &Filter{LabelPrefix: labelPrefix}
	if err := f.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// proxyTo is the handler after the filter: a reverse proxy to dockerd
// that flushes at once, as docker-api's reverse_proxy does.
func proxyTo(d *fakeDockerd) caddyhttp.Handler {
	target, _ := url.Parse(d.URL)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		FlushInterval: -1,
	}
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rp.ServeHTTP(w, r)
		return nil
	})
}

// do sends one request, given as the raw request target a client would
// send, through f to d, and returns the recorded answer and the handler's error.
func do(t *testing.T, f *Filter, d *fakeDockerd, method, target string, header http.Header) (*httptest.ResponseRecorder, error) {
	t.Helper()
	return doBody(t, f, d, method, target, header, "")
}

// doBody is do with a request body.
func doBody(t *testing.T, f *Filter, d *fakeDockerd, method, target string, header http.Header, body string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rb)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	err := f.ServeHTTP(w, r, proxyTo(d))
	return w, err
}
