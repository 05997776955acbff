// Package fake holds a fake Docker engine, and the swarm objects it lists,
// for the tests of every layer that reads Docker: Engine answers the calls
// the real Docker client makes, and Service, Task and Network build what
// it answers with.
package fake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Engine is an httptest.Server that answers the Docker Engine API
// calls the module makes, driven by the real Docker client. It records
// every call and can be taken down (every call fails with 500) and back.
type Engine struct {
	srv *httptest.Server

	mu       sync.Mutex
	Services []swarm.Service
	Tasks    []swarm.Task
	Networks []network.Summary
	// Containers are the engine's containers, of which it lists the
	// running ones.
	Containers []container.Summary
	calls      []string // "GET /services"
	queries    []string // the query of each call, decoded
	down       bool
	// HangEvents makes /events never answer, like an engine behind an
	// address that accepts connections and then says nothing.
	HangEvents bool
	// BlockEvents answers /events with 403, as an allowlisting proxy would.
	BlockEvents bool
	// DeafEvents opens /events and then delivers nothing, ever.
	DeafEvents bool
	// NotManager answers the swarm endpoints as a plain engine does: 503,
	// "This node is not a swarm manager".
	NotManager bool
	// Delay is how long every list call takes to answer.
	Delay time.Duration
	// Scales are the scale calls (docker-api's POST
	// /faas/services/{id}/scale) made, "id=N" each.
	Scales []string
	// OnScale, if set, is called after a scale call set service id to n
	// replicas, without the engine's lock: a test starts or stops the
	// service's tasks there, as the swarm would.
	OnScale func(id string, n uint64)
	subs    map[chan events.Message]filters.Args // the open event streams, by the filters each asked for
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// Unversioned returns a request path without the API version that may
// start it: "/v1.41/services" is "/services".
func Unversioned(path string) string { return versionPrefix.ReplaceAllString(path, "") }

func NewEngine(t testing.TB) *Engine {
	fe := &Engine{subs: make(map[chan events.Message]filters.Args)}
	fe.srv = httptest.NewServer(http.HandlerFunc(fe.serve))
	t.Cleanup(fe.Close)
	return fe
}

// Host is the address to give the Docker client.
func (fe *Engine) Host() string { return "tcp://" + fe.srv.Listener.Addr().String() }

// Close ends the open event streams and stops the server; the test's
// cleanup calls it.
func (fe *Engine) Close() {
	fe.mu.Lock()
	for c := range fe.subs {
		close(c)
		delete(fe.subs, c)
	}
	fe.mu.Unlock()
	fe.srv.CloseClientConnections()
	fe.srv.Close()
}

func (fe *Engine) serve(w http.ResponseWriter, r *http.Request) {
	p := Unversioned(r.URL.Path)
	fe.mu.Lock()
	fe.calls = append(fe.calls, r.Method+" "+p)
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	fe.queries = append(fe.queries, q)
	down, delay := fe.down, fe.Delay
	if fe.NotManager && (p == "/services" || p == "/tasks") {
		fe.mu.Unlock()
		w.Header().Set("Api-Version", "1.41")
		http.Error(w, `{"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}`, http.StatusServiceUnavailable)
		return
	}
	if id, ok := scalePath(p); ok && !down {
		fe.mu.Unlock()
		fe.serveScale(w, r, id)
		return
	}
	var body any
	switch p {
	case "/services":
		body = filterServices(fe.Services, r.URL.Query().Get("filters"))
	case "/tasks":
		if id, ok := fe.unknownService(r.URL.Query().Get("filters")); ok {
			fe.mu.Unlock()
			w.Header().Set("Api-Version", "1.41")
			http.Error(w, `{"message":"service `+id+` not found"}`, http.StatusNotFound)
			return
		}
		body = filterTasks(fe.Tasks, r.URL.Query().Get("filters"))
	case "/networks":
		body = fe.Networks
	case "/containers/json":
		body = filterContainers(fe.Containers, r.URL.Query().Get("filters"))
	}
	var answer []byte
	if body != nil {
		// Encoded under the lock: tests change the state in place.
		answer, _ = json.Marshal(body)
	}
	fe.mu.Unlock()

	w.Header().Set("Api-Version", "1.41")
	if delay > 0 && body != nil {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, `{"message":"engine is down"}`, http.StatusInternalServerError)
		return
	}
	switch {
	case p == "/_ping":
		_, _ = w.Write([]byte("OK"))
	case p == "/events":
		fe.streamEvents(w, r)
	case body != nil:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	default:
		http.Error(w, `{"message":"not faked"}`, http.StatusNotFound)
	}
}

// filterServices honours the service filters the module uses: label (a
// key, or key=value) and id (a prefix of the ID, as dockerd matches it).
func filterServices(services []swarm.Service, raw string) []swarm.Service {
	f, err := filters.FromJSON(raw)
	if err != nil {
		panic(err)
	}
	out := []swarm.Service{}
	for _, s := range services {
		if f.Contains("label") && !f.MatchKVList("label", s.Spec.Labels) {
			continue
		}
		if f.Contains("id") && !slices.ContainsFunc(f.Get("id"), func(id string) bool { return strings.HasPrefix(s.ID, id) }) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// filterContainers honours the container filters the module uses, as
// ListContainers.
func filterContainers(cs []container.Summary, raw string) []container.Summary {
	f, err := filters.FromJSON(raw)
	if err != nil {
		panic(err)
	}
	return ListContainers(cs, f)
}

// ListContainers lists the containers of cs that f lets through, with the
// filters the module uses: label (a key, or key=value), status and id (a
// prefix of the ID, as dockerd matches it).
func ListContainers(cs []container.Summary, f filters.Args) []container.Summary {
	out := []container.Summary{}
	for _, c := range cs {
		switch {
		case f.Contains("label") && !f.MatchKVList("label", c.Labels):
		case f.Contains("status") && !f.ExactMatch("status", string(c.State)):
		case f.Contains("id") && !slices.ContainsFunc(f.Get("id"), func(id string) bool { return strings.HasPrefix(c.ID, id) }):
		default:
			out = append(out, c)
		}
	}
	return out
}

// unknownService returns a service that a task filter names and the engine
// does not have: dockerd refuses such a listing with 404. fe.mu is held.
func (fe *Engine) unknownService(raw string) (string, bool) {
	f, err := filters.FromJSON(raw)
	if err != nil {
		panic(err)
	}
	for _, id := range f.Get("service") {
		if !slices.ContainsFunc(fe.Services, func(s swarm.Service) bool { return s.ID == id }) {
			return id, true
		}
	}
	return "", false
}

// filterTasks honours the task filters the module uses: desired-state,
// and service (by ID).
func filterTasks(tasks []swarm.Task, raw string) []swarm.Task {
	f, err := filters.FromJSON(raw)
	if err != nil {
		panic(err)
	}
	out := []swarm.Task{}
	for _, t := range tasks {
		if f.Contains("desired-state") && !f.ExactMatch("desired-state", string(t.DesiredState)) {
			continue
		}
		if f.Contains("service") && !f.ExactMatch("service", t.ServiceID) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (fe *Engine) streamEvents(w http.ResponseWriter, r *http.Request) {
	fe.mu.Lock()
	hang, deaf := fe.HangEvents, fe.DeafEvents
	fe.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	if deaf {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if fe.BlockEvents {
		http.Error(w, `{"message":"forbidden by the test"}`, http.StatusForbidden)
		return
	}
	c := make(chan events.Message, 16)
	fe.mu.Lock()
	f, _ := filters.FromJSON(r.URL.Query().Get("filters"))
	fe.subs[c] = f
	fe.mu.Unlock()
	defer func() {
		fe.mu.Lock()
		if _, ok := fe.subs[c]; ok {
			delete(fe.subs, c)
		}
		fe.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-c:
			if !ok {
				return
			}
			_ = enc.Encode(m)
			w.(http.Flusher).Flush()
		}
	}
}

// Update changes the engine's state and sends a service event, as a
// `docker service update` does.
func (fe *Engine) Update(f func(fe *Engine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	for i := range fe.Services { // as the engine's store does on every update
		fe.Services[i].Version.Index++
	}
	fe.send(events.Message{Type: events.ServiceEventType, Action: "update", Time: time.Now().Unix()})
}

// UpdateService changes the engine's state and sends the event of
// service id, as dockerd does (update names no service).
func (fe *Engine) UpdateService(id string, f func(fe *Engine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	for i := range fe.Services {
		if fe.Services[i].ID == id {
			fe.Services[i].Version.Index++
		}
	}
	fe.send(events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: id}, Scope: "swarm", Time: time.Now().Unix()})
}

// NetworkChange changes the engine's state and sends a network event, as
// a `docker network create` does.
func (fe *Engine) NetworkChange(f func(fe *Engine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	fe.send(events.Message{Type: events.NetworkEventType, Action: "create", Scope: "swarm", Time: time.Now().Unix()})
}

// WaitSubscribed waits until a stream of service events is open, so that
// the next service event is delivered rather than dropped: the swarm
// source opens its stream after its first listing, which a test may see
// first (and a container source's stream does not get service events).
func (fe *Engine) WaitSubscribed(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		fe.mu.Lock()
		n := 0
		for _, f := range fe.subs {
			if !f.Contains("type") || f.ExactMatch("type", string(events.ServiceEventType)) {
				n++
			}
		}
		fe.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no event stream opened within 10s")
		}
	}
}

// send delivers m to the open event streams; fe.mu is held.
func (fe *Engine) send(m events.Message) {
	for c, f := range fe.subs {
		if f.Contains("type") && !f.ExactMatch("type", string(m.Type)) {
			continue // as dockerd filters
		}
		select {
		case c <- m:
		default:
		}
	}
}

// Quietly changes the engine's state without an event, as a task changing
// state does.
func (fe *Engine) Quietly(f func(fe *Engine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
}

// SetDown makes every call fail (true) or succeed again (false), and ends
// the open event streams as a daemon restart would.
func (fe *Engine) SetDown(down bool) {
	fe.mu.Lock()
	fe.down = down
	if down {
		for c := range fe.subs {
			close(c)
			delete(fe.subs, c)
		}
	}
	fe.mu.Unlock()
}

// CallSet returns the distinct calls made so far, sorted.
func (fe *Engine) CallSet() []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	s := slices.Clone(fe.calls)
	slices.Sort(s)
	return slices.Compact(s)
}

// CallCount is the number of times call was made.
func (fe *Engine) CallCount(call string) int {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	n := 0
	for _, c := range fe.calls {
		if c == call {
			n++
		}
	}
	return n
}

// CallsSince returns the calls, with their queries, made after the first n.
func (fe *Engine) CallsSince(n int) []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	var out []string
	for i := n; i < len(fe.calls); i++ {
		out = append(out, fe.calls[i]+"?"+fe.queries[i])
	}
	return out
}

// Calls returns the calls made so far, in order.
func (fe *Engine) Calls() []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return slices.Clone(fe.calls)
}

// CallTotal is the number of calls made so far.
func (fe *Engine) CallTotal() int {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return len(fe.calls)
}
