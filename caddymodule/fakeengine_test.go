package caddymodule

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

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// fakeEngine is an httptest.Server that answers the Docker Engine API
// calls the module makes, driven by the real Docker client. It records
// every call and can be taken down (every call fails with 500) and back.
type fakeEngine struct {
	srv *httptest.Server

	mu       sync.Mutex
	services []swarm.Service
	tasks    []swarm.Task
	networks []network.Summary
	calls    []string // "GET /services"
	queries  []string // the query of each call, decoded
	down     bool
	// hangEvents makes /events never answer, like an engine behind an
	// address that accepts connections and then says nothing.
	hangEvents bool
	// blockEvents answers /events with 403, as an allowlisting proxy would.
	blockEvents bool
	// deafEvents opens /events and then delivers nothing, ever.
	deafEvents bool
	// delay is how long every list call takes to answer.
	delay time.Duration
	subs  map[chan events.Message]struct{}
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func newFakeEngine(t testing.TB) *fakeEngine {
	fe := &fakeEngine{subs: make(map[chan events.Message]struct{})}
	fe.srv = httptest.NewServer(http.HandlerFunc(fe.serve))
	t.Cleanup(fe.close)
	return fe
}

// host is the address to give the Docker client.
func (fe *fakeEngine) host() string { return "tcp://" + fe.srv.Listener.Addr().String() }

func (fe *fakeEngine) close() {
	fe.mu.Lock()
	for c := range fe.subs {
		close(c)
		delete(fe.subs, c)
	}
	fe.mu.Unlock()
	fe.srv.CloseClientConnections()
	fe.srv.Close()
}

func (fe *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	p := versionPrefix.ReplaceAllString(r.URL.Path, "")
	fe.mu.Lock()
	fe.calls = append(fe.calls, r.Method+" "+p)
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	fe.queries = append(fe.queries, q)
	down, delay := fe.down, fe.delay
	var body any
	switch p {
	case "/services":
		body = filterServices(fe.services, r.URL.Query().Get("filters"))
	case "/tasks":
		if id, ok := fe.unknownService(r.URL.Query().Get("filters")); ok {
			fe.mu.Unlock()
			w.Header().Set("Api-Version", "1.41")
			http.Error(w, `{"message":"service `+id+` not found"}`, http.StatusNotFound)
			return
		}
		body = filterTasks(fe.tasks, r.URL.Query().Get("filters"))
	case "/networks":
		body = fe.networks
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

// unknownService returns a service that a task filter names and the engine
// does not have: dockerd refuses such a listing with 404. fe.mu is held.
func (fe *fakeEngine) unknownService(raw string) (string, bool) {
	f, err := filters.FromJSON(raw)
	if err != nil {
		panic(err)
	}
	for _, id := range f.Get("service") {
		if !slices.ContainsFunc(fe.services, func(s swarm.Service) bool { return s.ID == id }) {
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

func (fe *fakeEngine) streamEvents(w http.ResponseWriter, r *http.Request) {
	fe.mu.Lock()
	hang, deaf := fe.hangEvents, fe.deafEvents
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
	if fe.blockEvents {
		http.Error(w, `{"message":"forbidden by the test"}`, http.StatusForbidden)
		return
	}
	c := make(chan events.Message, 16)
	fe.mu.Lock()
	fe.subs[c] = struct{}{}
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

// update changes the engine's state and sends a service event, as a
// `docker service update` does.
func (fe *fakeEngine) update(f func(fe *fakeEngine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	for i := range fe.services { // as the engine's store does on every update
		fe.services[i].Version.Index++
	}
	fe.send(events.Message{Type: events.ServiceEventType, Action: "update", Time: time.Now().Unix()})
}

// updateService changes the engine's state and sends the event of
// service id, as dockerd does (update names no service).
func (fe *fakeEngine) updateService(id string, f func(fe *fakeEngine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	for i := range fe.services {
		if fe.services[i].ID == id {
			fe.services[i].Version.Index++
		}
	}
	fe.send(events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: id}, Scope: "swarm", Time: time.Now().Unix()})
}

// networkChange changes the engine's state and sends a network event, as
// a `docker network create` does.
func (fe *fakeEngine) networkChange(f func(fe *fakeEngine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
	fe.send(events.Message{Type: events.NetworkEventType, Action: "create", Scope: "swarm", Time: time.Now().Unix()})
}

// waitSubscribed waits until an event stream is open, so that the next
// event is delivered rather than dropped: the watcher opens its stream
// after its first listing, which a test may see first.
func (fe *fakeEngine) waitSubscribed(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		fe.mu.Lock()
		n := len(fe.subs)
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
func (fe *fakeEngine) send(m events.Message) {
	for c := range fe.subs {
		select {
		case c <- m:
		default:
		}
	}
}

// quietly changes the engine's state without an event, as a task changing
// state does.
func (fe *fakeEngine) quietly(f func(fe *fakeEngine)) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f(fe)
}

// setDown makes every call fail (true) or succeed again (false), and ends
// the open event streams as a daemon restart would.
func (fe *fakeEngine) setDown(down bool) {
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

// callSet returns the distinct calls made so far, sorted.
func (fe *fakeEngine) callSet() []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	s := slices.Clone(fe.calls)
	slices.Sort(s)
	return slices.Compact(s)
}

func (fe *fakeEngine) callCount(call string) int {
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

// callsSince returns the calls, with their queries, made after the first n.
func (fe *fakeEngine) callsSince(n int) []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	var out []string
	for i := n; i < len(fe.calls); i++ {
		out = append(out, fe.calls[i]+"?"+fe.queries[i])
	}
	return out
}

// callTotal is the number of calls made so far.
func (fe *fakeEngine) callTotal() int {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return len(fe.calls)
}
