package dockerapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEventsPassOnlyLabelled: of what dockerd streams, only events about
// labelled services pass (and the removal, or the label-dropping update, of
// a service that was labelled), and every event leaves trimmed to type,
// action, actor ID and time.
func TestEventsPassOnlyLabelled(t *testing.T) {
	const (
		multiply = "9mnpnzenvg8p8tdbtq4wvbkcz" // labelled
		db       = "q2lz9q9t0s0w0b6b5e6o1l7m4" // never labelled
		agent    = "v4d3ct0rm1zxgk1i0c5jxkm7d" // labelled, then its label is dropped
	)
	d := newFakeDockerd(t)
	d.events = []string{
		`{"status":"update","id":"` + multiply + `","from":"registry.internal/multiply:1@sha256:aaaa","Type":"service","Action":"update","Actor":{"ID":"` + multiply + `","Attributes":{"name":"faas_multiply","image.new":"registry.internal/multiply:2@sha256:bbbb"}},"scope":"swarm","time":1777712441,"timeNano":1777712441908223457}`,
		`{"Type":"service","Action":"update","Actor":{"ID":"` + db + `","Attributes":{"name":"faas_db","image.new":"registry.internal/payments-db:5.7@sha256:cccc"}},"scope":"swarm","time":1777712442,"timeNano":1777712442000000000}`,
		`{"Type":"service","Action":"create","Actor":{"ID":"` + db + `","Attributes":{"name":"faas_db"}},"scope":"swarm","time":1777712442,"timeNano":1777712442000000001}`,
		`{"Type":"network","Action":"connect","Actor":{"ID":"n0000000000000000000000001","Attributes":{"container":"c0ffee0000000000000000000000000000000000000000000000000000000000","name":"bridge","type":"bridge"}},"scope":"local","time":1777712443,"timeNano":1777712443000000000}`,
		`{"Type":"container","Action":"start","Actor":{"ID":"c0ffee0000000000000000000000000000000000000000000000000000000000","Attributes":{"image":"registry.internal/secret:1","name":"db"}},"scope":"local","time":1777712444,"timeNano":1777712444000000000}`,
		`{"Type":"service","Action":"remove","Actor":{"ID":"` + db + `","Attributes":{"name":"faas_db"}},"scope":"swarm","time":1777712445,"timeNano":1777712445000000000}`,
		`{"Type":"service","Action":"update","Actor":{"ID":"` + agent + `","Attributes":{"name":"faas_agent"}},"scope":"swarm","time":1777712446,"timeNano":1777712446000000000}`,
		`{"Type":"service","Action":"remove","Actor":{"ID":"` + agent + `","Attributes":{"name":"faas_agent"}},"scope":"swarm","time":1777712447,"timeNano":1777712447000000000}`,
		`{"Type":"service","Action":"remove","Actor":{"ID":"` + multiply + `","Attributes":{"name":"faas_multiply"}},"scope":"swarm","time":1777712448,"timeNano":1777712448000000000}`,
	}
	d.beforeEvent = func(i int) {
		if i == 6 { // the update that drops agent's label
			d.dropLabel(agent)
		}
	}
	want := strings.Join([]string{
		`{"Type":"service","Action":"update","Actor":{"ID":"` + multiply + `"},"time":1777712441,"timeNano":1777712441908223457}`,
		`{"Type":"network","Action":"connect","Actor":{"ID":"n0000000000000000000000001"},"time":1777712443,"timeNano":1777712443000000000}`,
		`{"Type":"service","Action":"update","Actor":{"ID":"` + agent + `"},"time":1777712446,"timeNano":1777712446000000000}`,
		`{"Type":"service","Action":"remove","Actor":{"ID":"` + multiply + `"},"time":1777712448,"timeNano":1777712448000000000}`,
	}, "\n") + "\n"

	got := streamEvents(t, newFilter(t, ""), d, len(want))
	if got != want {
		t.Errorf("streamed\n%s\nwant\n%s", got, want)
	}
	for _, leak := range []string{"faas_db", "registry.internal", "c0ffee", "Attributes", db} {
		if strings.Contains(got, leak) {
			t.Errorf("the stream carries %q", leak)
		}
	}
}

// TestEventsDockerdRefuses: a refusal of the service listing docker-api
// makes first (not a manager) reaches the client as dockerd sent it.
func TestEventsDockerdRefuses(t *testing.T) {
	d := newFakeDockerd(t)
	d.setFail(http.StatusServiceUnavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w := httptest.NewRecorder()
	err := newFilter(t, "").ServeHTTP(w, httptest.NewRequest("GET", "/v1.41/events", nil).WithContext(ctx), proxyTo(d))
	if err != nil || w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not a swarm manager") {
		t.Errorf("got %d %v %q, want dockerd's 503", w.Code, err, w.Body)
	}
	if d.lastCallTo("/events") != nil {
		t.Error("the event stream was opened although the service listing was refused")
	}
}

// streamEvents opens /events through f and returns what it streamed once
// at least n bytes came, or after 5 s.
func streamEvents(t *testing.T, f *Filter, d *fakeDockerd, n int) string {
	t.Helper()
	return streamEventsOf(t, f, d, "/v1.41/events", n)
}

// streamContainerEvents is streamEvents for a stream of container events,
// as the container source asks for it (and another label filter).
func streamContainerEvents(t *testing.T, d *fakeDockerd, n int) string {
	t.Helper()
	q := url.Values{"filters": {`{"type":["container"],"label":["other.enable"],"event":["kill","die"]}`}}
	return streamEventsOf(t, newFilter(t, ""), d, "/v1.41/events?"+q.Encode(), n)
}

// streamEventsOf opens target through f and returns what it streamed once
// at least n bytes came, or after 5 s.
func streamEventsOf(t *testing.T, f *Filter, d *fakeDockerd, target string, n int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := httptest.NewRequest("GET", target, nil).WithContext(ctx)
	w := newStreamRecorder()
	done := make(chan error, 1)
	go func() { done <- f.ServeHTTP(w, r, proxyTo(d)) }()
	for deadline := time.Now().Add(5 * time.Second); len(w.body()) < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the stream ended with %v", err)
	}
	return w.body()
}

// TestTasksOfHiddenService: a task listing of a service that did not opt
// in, by name or ID, is answered exactly as one of a service that does not
// exist, without asking dockerd for any task.
func TestTasksOfHiddenService(t *testing.T) {
	d := newFakeDockerd(t)
	f := newFilter(t, "")
	answer := func(service string) (*httptest.ResponseRecorder, int) {
		before := 0
		for _, c := range d.allCalls() {
			if strings.HasSuffix(c.Path, "/tasks") {
				before++
			}
		}
		q := url.QueryEscape(`{"desired-state":["running"],"service":["` + service + `"]}`)
		w, err := do(t, f, d, "GET", "/v1.41/tasks?filters="+q, nil)
		if err != nil {
			t.Fatalf("tasks of %s: %v", service, err)
		}
		after := 0
		for _, c := range d.allCalls() {
			if strings.HasSuffix(c.Path, "/tasks") {
				after++
			}
		}
		return w, after - before
	}
	missing, _ := answer("faas_nope")
	if missing.Code != http.StatusNotFound {
		t.Fatalf("tasks of a missing service: %d %q, want 404", missing.Code, missing.Body)
	}
	for _, hidden := range []string{"faas_db", "q2lz9q9t0s0w0b6b5e6o1l7m4"} {
		w, asked := answer(hidden)
		if w.Code != missing.Code || w.Body.String() != strings.ReplaceAll(missing.Body.String(), "faas_nope", hidden) {
			t.Errorf("tasks of hidden %s: %d %q; of a missing service: %d %q", hidden, w.Code, w.Body, missing.Code, missing.Body)
		}
		for _, h := range []string{"Content-Type", "Api-Version", "Server"} {
			if hv, mv := w.Header().Get(h), missing.Header().Get(h); hv != mv {
				t.Errorf("tasks of hidden %s: %s %q, of a missing service %q", hidden, h, hv, mv)
			}
		}
		if asked != 0 {
			t.Errorf("tasks of hidden %s: dockerd was asked for tasks %d times, want 0", hidden, asked)
		}
	}
	if w, _ := answer("faas_multiply"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "9mnpnzenvg8p8tdbtq4wvbkcz") {
		t.Errorf("tasks of the labelled faas_multiply: %d %q, want its tasks", w.Code, w.Body)
	}
}
