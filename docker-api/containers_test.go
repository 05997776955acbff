// Tests of what of the container calls leaves the engine: the labelled
// containers' listing, a labelled container's stop signal, and the
// labelled containers' events.

package dockerapi

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

const (
	webID  = "c1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // labelled, of compose service web
	dbID   = "d2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // not labelled
	taskID = "e3cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" // labelled, a swarm task's
)

func TestContainersAnswer(t *testing.T) {
	d := newFakeDockerd(t)
	got := decode[container.Summary](t, get(t, d, `/v1.41/containers/json?filters={"label":["faas.enable"],"status":["running"]}`))
	if len(got) != 1 || got[0].ID != webID {
		t.Fatalf("listed %+v, want the labelled container only (not the unlabelled one, nor the swarm task's)", got)
	}
	want := container.Summary{
		ID: webID, Names: []string{"/shop-web-1"}, Created: 1777712000, State: "running", Status: "Up 2 minutes (healthy)",
		Labels: map[string]string{
			"faas.enable": "true", "faas.port": "8080",
			"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
		},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"shop_default": {NetworkID: "n1nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", IPAddress: "10.0.1.5"},
		}},
		Ports: []container.Port{{IP: "0.0.0.0", PrivatePort: 8080, PublicPort: 32768, Type: "tcp"}},
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("the container left as\n%+v\nwant\n%+v", got[0], want)
	}
}

func TestContainerInspect(t *testing.T) {
	d := newFakeDockerd(t)
	body := get(t, d, "/v1.41/containers/"+webID+"/json")
	if got, want := strings.TrimSpace(string(body)), `{"Config":{"StopSignal":"SIGQUIT"},"Id":"`+webID+`"}`; got != want {
		t.Errorf("inspection left as %s, want %s", got, want)
	}
	// A container that did not opt in looks like one that does not exist.
	for _, id := range []string{dbID, taskID, "nosuch"} {
		w, err := do(t, newFilter(t, ""), d, "GET", "/v1.41/containers/"+id+"/json", nil)
		want := `{"message":"No such container: ` + id + `"}`
		if err != nil || w.Code != http.StatusNotFound || strings.TrimSpace(w.Body.String()) != want {
			t.Errorf("inspection of %s: %d %v %q, want 404 %s", id, w.Code, err, w.Body, want)
		}
		if strings.Contains(w.Body.String(), secretMark) {
			t.Errorf("inspection of %s carries a secret: %s", id, w.Body)
		}
	}
}

// TestContainerEvents: a stream of container events is forced to the
// labelled containers' events, without the service listing that service
// streams make (a plain engine refuses it), and each event leaves trimmed
// to type, action, actor ID, time and a kill's signal.
func TestContainerEvents(t *testing.T) {
	d := newFakeDockerd(t)
	d.setFail(http.StatusServiceUnavailable) // no swarm here
	d.events = []string{
		`{"status":"kill","id":"` + webID + `","from":"web","Type":"container","Action":"kill","Actor":{"ID":"` + webID + `","Attributes":{"faas.enable":"true","image":"registry.internal/web:1","name":"shop-web-1","signal":"15"}},"scope":"local","time":1777712441,"timeNano":1777712441000000001}`,
		`{"Type":"container","Action":"start","Actor":{"ID":"` + dbID + `","Attributes":{"image":"postgres","name":"db"}},"scope":"local","time":1777712442,"timeNano":1777712442000000000}`,
		`{"Type":"container","Action":"start","Actor":{"ID":"` + taskID + `","Attributes":{"faas.enable":"true","com.docker.swarm.task.id":"x","name":"faas_multiply.1"}},"scope":"local","time":1777712443,"timeNano":1777712443000000000}`,
		`{"Type":"service","Action":"update","Actor":{"ID":"9mnpnzenvg8p8tdbtq4wvbkcz"},"scope":"swarm","time":1777712444,"timeNano":1777712444000000000}`,
		`{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"` + webID + `","Attributes":{"faas.enable":"true","name":"shop-web-1","signal":"9"}},"scope":"local","time":1777712445,"timeNano":1777712445000000000}`,
	}
	want := strings.Join([]string{
		`{"Type":"container","Action":"kill","Actor":{"ID":"` + webID + `","Attributes":{"signal":"15"}},"time":1777712441,"timeNano":1777712441000000001}`,
		`{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"` + webID + `"},"time":1777712445,"timeNano":1777712445000000000}`,
	}, "\n") + "\n"
	got := streamContainerEvents(t, d, len(want))
	if got != want {
		t.Errorf("streamed\n%s\nwant\n%s", got, want)
	}
	if d.lastCallTo("/services") != nil {
		t.Error("a container event stream listed the services")
	}
	args, err := filters.FromJSON(d.lastCallTo("/events").Query().Get("filters"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{"type": {"container"}, "label": {"faas.enable"}, "event": {"die", "kill"}, "scope": nil} {
		got := args.Get(key)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("dockerd got filter %s = %v, want %v", key, got, want)
		}
	}
}
