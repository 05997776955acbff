package dockerapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLocalScale checks the scale call made in-process, over a transport
// straight to dockerd: the same checks and the same one write.
func TestLocalScale(t *testing.T) {
	d := newFakeDockerd(t)
	d.setLabels(multiplyServiceID, scaling)
	hc := &http.Client{Transport: LocalScale(http.DefaultTransport, "faas", nil)}
	post := func(target string) (int, string) {
		t.Helper()
		res, err := hc.Post(d.URL+target, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	if code, body := post("/faas/services/faas_multiply/scale?replicas=6"); code != http.StatusForbidden || !strings.Contains(body, "allow 1 to 5") {
		t.Errorf("out of bounds: %d %q, want 403", code, body)
	}
	if code, body := post("/faas/services/faas_db/scale?replicas=1"); code != http.StatusNotFound {
		t.Errorf("unlabelled: %d %q, want 404", code, body)
	}
	if ups := d.takenUpdates(); len(ups) != 0 {
		t.Fatalf("a refused call wrote: %+v", ups)
	}
	code, body := post("/faas/services/faas_multiply/scale?replicas=4")
	var got struct{ Replicas uint64 }
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || got.Replicas != 4 {
		t.Fatalf("scale: %d %q, want 200 with 4 replicas", code, body)
	}
	ups := d.takenUpdates()
	if len(ups) != 1 || ups[0].spec["Mode"].(map[string]any)["Replicated"].(map[string]any)["Replicas"] != json.Number("4") {
		t.Errorf("updates %+v, want one to 4 replicas", ups)
	}

	// Any other call goes to dockerd as it is.
	res, err := hc.Get(d.URL + "/v1.41/networks")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /networks: %v, %v", res, err)
	}
	res.Body.Close()
	if c := d.lastCall(); c.Scheme != "GET" || c.Path != "/v1.41/networks" {
		t.Errorf("dockerd got %v, want GET /v1.41/networks", c)
	}
}
