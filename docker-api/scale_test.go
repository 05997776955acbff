// Tests of docker-api's one write, the scale call, against the stand-in
// dockerd: the count changes and nothing else does, within the labels'
// bounds, and every other write is refused.

package dockerapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Services of testdata/services.json.
const (
	multiplyServiceID = "9mnpnzenvg8p8tdbtq4wvbkcz" // labelled, replicated, 3 replicas
	dbServiceID       = "q2lz9q9t0s0w0b6b5e6o1l7m4" // unlabelled
	agentServiceID    = "v4d3ct0rm1zxgk1i0c5jxkm7d" // labelled, global
)

// scaling are the scaling labels the tests give a service: 1 to 5
// replicas awake, asleep after a minute.
var scaling = map[string]string{"faas.scale.max": "5", "faas.scale.idle": "1m"}

// newScaleTest is a dockerd whose multiply service has the scaling
// labels, and a filter in front of it whose log is observed.
func newScaleTest(t *testing.T) (*fakeDockerd, *Filter, *observer.ObservedLogs) {
	t.Helper()
	d := newFakeDockerd(t)
	d.setLabels(multiplyServiceID, scaling)
	f := newFilter(t, "")
	core, logs := observer.New(zap.InfoLevel)
	f.logger = zap.New(core)
	return d, f, logs
}

func TestScaleChangesTheCountAlone(t *testing.T) {
	for _, target := range []string{
		"/faas/services/faas_multiply/scale?replicas=5",
		"/v1.41/faas/services/" + multiplyServiceID + "/scale?replicas=5",
		"/v1.24/faas/services/9mnpn/scale?replicas=5",
	} {
		t.Run(target, func(t *testing.T) {
			d, f, logs := newScaleTest(t)
			before := d.service(multiplyServiceID)
			w, err := do(t, f, d, "POST", target, http.Header{"X-Registry-Auth": {"czNjcjN0"}})
			if err != nil || w.Code != http.StatusOK {
				t.Fatalf("status %d, %v; body %q", w.Code, err, w.Body)
			}
			var got struct {
				ID                 string
				Replicas, Previous uint64
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.ID != multiplyServiceID || got.Replicas != 5 || got.Previous != 3 {
				t.Errorf("answer %q (%v), want ID %s, 3 to 5 replicas", w.Body, err, multiplyServiceID)
			}

			ups := d.takenUpdates()
			if len(ups) != 1 {
				t.Fatalf("dockerd took %d updates, want 1", len(ups))
			}
			up := ups[0]
			if up.id != multiplyServiceID || up.version != "3107" || len(up.query) != 1 {
				t.Errorf("update of %s, query %v; want %s?version=3107 alone", up.id, up.query, multiplyServiceID)
			}
			if auth := up.header.Get("X-Registry-Auth"); auth != "" {
				t.Errorf("the caller's registry credentials reached the update: %q", auth)
			}
			for _, c := range d.allCalls() {
				if versionPrefix.MatchString(c.Path) {
					t.Errorf("docker-api called %s %s with a version: dockerd would convert the spec", c.Scheme, c.Path)
				}
			}

			want := before["Spec"].(map[string]any)
			want["Mode"].(map[string]any)["Replicated"].(map[string]any)["Replicas"] = json.Number("5")
			for k, v := range want {
				if !reflect.DeepEqual(up.spec[k], v) {
					t.Errorf("Spec.%s changed:\n got %v\nwant %v", k, up.spec[k], v)
				}
			}
			for k := range up.spec {
				if _, ok := want[k]; !ok {
					t.Errorf("Spec.%s added", k)
				}
			}
			if logs.FilterMessage("service scaled").Len() != 1 {
				t.Errorf("the write is not logged: %v", logs.All())
			}
		})
	}
}

func TestScaleToTheSameCountWritesNothing(t *testing.T) {
	d, f, _ := newScaleTest(t)
	w, err := do(t, f, d, "POST", "/faas/services/faas_multiply/scale?replicas=3", nil)
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("status %d, %v; body %q", w.Code, err, w.Body)
	}
	if ups := d.takenUpdates(); len(ups) != 0 {
		t.Errorf("dockerd took %d updates, want none", len(ups))
	}
}

func TestScaleRetriesAConflict(t *testing.T) {
	for _, tt := range []struct {
		name      string
		conflicts int
		want      int
		version   string // of the update taken, "" for none
	}{
		{"one conflict: read again, then written", 1, http.StatusOK, "3108"},
		{"two conflicts: read again twice", 2, http.StatusOK, "3109"},
		{"conflicts every time: dockerd's answer, never forced", maxScaleAttempts, http.StatusInternalServerError, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, f, _ := newScaleTest(t)
			d.conflicts = tt.conflicts
			w, err := do(t, f, d, "POST", "/faas/services/faas_multiply/scale?replicas=2", nil)
			if err != nil || w.Code != tt.want {
				t.Fatalf("status %d, %v; body %q; want %d", w.Code, err, w.Body, tt.want)
			}
			ups := d.takenUpdates()
			switch {
			case tt.version == "" && len(ups) != 0:
				t.Errorf("dockerd took %d updates, want none", len(ups))
			case tt.version == "" && !strings.Contains(w.Body.String(), outOfSequence):
				t.Errorf("body %q, want dockerd's %q", w.Body, outOfSequence)
			case tt.version != "" && (len(ups) != 1 || ups[0].version != tt.version):
				t.Errorf("updates %+v, want one of version %s", ups, tt.version)
			}
			reads, writes := 0, 0
			for _, c := range d.allCalls() {
				switch {
				case c.Scheme == "GET" && c.Path == "/services/faas_multiply":
					reads++
				case c.Scheme == "POST":
					writes++
					if c.Query().Get("version") == "" {
						t.Errorf("an update without a version (forced): %v", c)
					}
				}
			}
			if attempts := min(tt.conflicts+1, maxScaleAttempts); reads != attempts || writes != attempts {
				t.Errorf("%d reads and %d writes, want %d of each", reads, writes, attempts)
			}
		})
	}
}

func TestScaleRefusals(t *testing.T) {
	tests := []struct {
		name           string
		method, target string
		body           string
		labels         map[string]map[string]string // by service ID, set first
		want           int
		wantBody       string
	}{
		{name: "above max", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=6", want: 403, wantBody: "allow 1 to 5"},
		{name: "far above max", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=18446744073709551615", want: 403, wantBody: "allow 1 to 5"},
		{name: "below min", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=1",
			labels: map[string]map[string]string{multiplyServiceID: {"faas.scale.min": "2"}}, want: 403, wantBody: "allow 2 to 5"},
		{name: "0 without an idle time", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=0",
			labels: map[string]map[string]string{multiplyServiceID: {"faas.scale.idle": ""}}, want: 403, wantBody: "no idle time, so it never sleeps"},
		{name: "no scaling labels", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2",
			labels: map[string]map[string]string{multiplyServiceID: {"faas.scale.max": "", "faas.scale.idle": ""}}, want: 403, wantBody: "has no scaling labels"},
		{name: "enable false", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2",
			labels: map[string]map[string]string{multiplyServiceID: {"faas.enable": "false"}}, want: 403, wantBody: "is not enabled"},
		{name: "malformed scaling label", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2",
			labels: map[string]map[string]string{multiplyServiceID: {"faas.scale.min": "many"}}, want: 403, wantBody: `label faas.scale.min="many"`},
		{name: "global", method: "POST", target: "/faas/services/faas_agent/scale?replicas=2",
			labels: map[string]map[string]string{agentServiceID: scaling}, want: 403, wantBody: "not replicated"},
		{name: "unlabelled, with scaling labels: missing", method: "POST", target: "/faas/services/faas_db/scale?replicas=2",
			labels: map[string]map[string]string{dbServiceID: scaling}, want: 404, wantBody: `{"message":"service faas_db not found"}`},
		{name: "unlabelled by ID: missing", method: "POST", target: "/faas/services/" + dbServiceID + "/scale?replicas=2",
			want: 404, wantBody: `{"message":"service ` + dbServiceID + ` not found"}`},
		{name: "missing", method: "POST", target: "/faas/services/nope/scale?replicas=2", want: 404, wantBody: `{"message":"service nope not found"}`},

		{name: "another query parameter", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2&image=evil", want: 403, wantBody: `unexpected query parameter "image"`},
		{name: "version parameter", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2&version=1", want: 403, wantBody: `"version"`},
		{name: "two counts", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2&replicas=3", want: 403, wantBody: "one replicas=N"},
		{name: "no count", method: "POST", target: "/faas/services/faas_multiply/scale", want: 403, wantBody: "one replicas=N"},
		{name: "negative count", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=-1", want: 403, wantBody: "whole number"},
		{name: "signed count", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=%2B2", want: 403, wantBody: "whole number"},
		{name: "hex count", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=0x2", want: 403, wantBody: "whole number"},
		{name: "malformed query", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=%zz", want: 403, wantBody: "malformed query"},
		{name: "a spec in the body", method: "POST", target: "/faas/services/faas_multiply/scale?replicas=2",
			body: `{"TaskTemplate":{"ContainerSpec":{"Image":"evil"}}}`, want: 403, wantBody: "has no body"},

		{name: "dockerd's update with an image change", method: "POST", target: "/v1.41/services/" + multiplyServiceID + "/update?version=3107",
			body: `{"Name":"faas_multiply","TaskTemplate":{"ContainerSpec":{"Image":"evil"}},"Mode":{"Replicated":{"Replicas":2}}}`, want: 403, wantBody: forbidden},
		{name: "dockerd's update, count only", method: "POST", target: "/services/" + multiplyServiceID + "/update?version=3107",
			body: `{"Mode":{"Replicated":{"Replicas":2}}}`, want: 403, wantBody: forbidden},
		{name: "scale, GET", method: "GET", target: "/faas/services/faas_multiply/scale?replicas=2", want: 403, wantBody: forbidden},
		{name: "scale, PUT", method: "PUT", target: "/faas/services/faas_multiply/scale?replicas=2", want: 403, wantBody: forbidden},
		{name: "scale, deeper", method: "POST", target: "/faas/services/faas_multiply/scale/x?replicas=2", want: 403, wantBody: forbidden},
		{name: "scale, two segments", method: "POST", target: "/faas/services/faas/multiply/scale?replicas=2", want: 403, wantBody: forbidden},
		{name: "scale, odd name", method: "POST", target: "/faas/services/-x/scale?replicas=2", want: 403, wantBody: forbidden},
		{name: "scale without the prefix", method: "POST", target: "/services/faas_multiply/scale?replicas=2", want: 403, wantBody: forbidden},
		{name: "service create", method: "POST", target: "/services/create", body: `{"Name":"evil"}`, want: 403, wantBody: forbidden},
		{name: "service delete", method: "DELETE", target: "/services/faas_multiply", want: 403, wantBody: forbidden},
		{name: "service rollback", method: "POST", target: "/services/" + multiplyServiceID + "/update?version=3107&rollback=previous", want: 403, wantBody: forbidden},
		{name: "one service, read", method: "GET", target: "/services/" + multiplyServiceID, want: 403, wantBody: forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, f, logs := newScaleTest(t)
			for id, ls := range tt.labels {
				d.setLabels(id, ls)
				// An empty value stands for a label removed.
				for k, v := range ls {
					if v == "" {
						delete(d.stored[id]["Spec"].(map[string]any)["Labels"].(map[string]any), k)
					}
				}
			}
			w, err := doBody(t, f, d, tt.method, tt.target, nil, tt.body)
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			var msg struct{ Message string }
			isJSON := json.Unmarshal(w.Body.Bytes(), &msg) == nil
			text := w.Body.String()
			if isJSON && tt.want == http.StatusForbidden {
				text = msg.Message
			}
			if w.Code != tt.want || !strings.Contains(text, tt.wantBody) {
				t.Errorf("%s %s: %d %q, want %d with %q", tt.method, tt.target, w.Code, w.Body, tt.want, tt.wantBody)
			}
			if ups := d.takenUpdates(); len(ups) != 0 {
				t.Errorf("dockerd took an update: %+v", ups)
			}
			for _, c := range d.allCalls() {
				if c.Scheme != "GET" {
					t.Errorf("a write reached dockerd: %s %s", c.Scheme, c.Path)
				}
			}
			if tt.want != http.StatusForbidden || tt.wantBody == forbidden {
				return
			}
			if !isJSON || !strings.HasPrefix(msg.Message, "403 forbidden: ") {
				t.Errorf("body %q, want a JSON message", w.Body)
			}
			if logs.FilterMessage("scale call refused").Len() != 1 {
				t.Errorf("the refusal is not logged: %v", logs.All())
			}
		})
	}
}
