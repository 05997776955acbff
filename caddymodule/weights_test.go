package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// The replicas of the two services of a weighted route: blue has one,
// green five.
const blueAddr = "127.0.0.70"

var greenAddrs = []string{"127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74", "127.0.0.75"}

// blueGreen is a gateway in front of blue (older, one replica) and green
// (five replicas), both claiming /app with the given weights, and
// swarm_route's opts, loaded from a Caddyfile.
func blueGreen(t *testing.T, blueWeight, greenWeight string, opts ...routeOption) *gatewayFixture {
	return blueGreenFrom(t, false, blueWeight, greenWeight, opts...)
}

// blueGreenFrom is blueGreen, from JSON or from a Caddyfile.
func blueGreenFrom(t *testing.T, useJSON bool, blueWeight, greenWeight string, opts ...routeOption) *gatewayFixture {
	t.Helper()
	p := fmt.Sprint(startBackends(t, append([]string{blueAddr}, greenAddrs...)...))
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{
		fake.Service("blue", fake.Enabled("faas.port", p, "faas.path", "/app", "faas.weight", blueWeight), fake.ServiceCreated(1)),
		fake.Service("green", fake.Enabled("faas.port", p, "faas.path", "/app", "faas.weight", greenWeight), fake.ServiceCreated(2), fake.ServiceReplicas(5)),
	}
	fe.Tasks = []swarm.Task{fake.Task("blue", blueAddr)}
	for _, a := range greenAddrs {
		fe.Tasks = append(fe.Tasks, fake.Task("green", a))
	}
	return loadGateway(t, fe, useJSON, opts...)
}

// setWeight changes a service's weight label, as `docker service update
// --label-add faas.weight=...` does.
func (gf *gatewayFixture) setWeight(service, weight string) {
	gf.fe.UpdateService(service, func(fe *fake.Engine) {
		for i := range fe.Services {
			if fe.Services[i].ID == service {
				fe.Services[i].Spec.Labels["faas.weight"] = weight
			}
		}
	})
}

// serviceOf names the service of a replica's address.
func serviceOf(addr string) string {
	if addr == blueAddr {
		return "blue"
	}
	return "green"
}

// weightedAnswer is what a request through the gateway got.
type weightedAnswer struct {
	code      int
	body      string
	replica   string // the address of the replica that answered, "" for none
	setCookie *http.Cookie
}

// send sends GET path with the given cookies.
func (gf *gatewayFixture) send(t *testing.T, client *http.Client, path string, cookies ...*http.Cookie) weightedAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, gf.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		return weightedAnswer{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := weightedAnswer{code: resp.StatusCode, body: string(b)}
	var br backendReply
	if json.Unmarshal(b, &br) == nil {
		a.replica = br.ID
	}
	if cs := resp.Cookies(); len(cs) > 0 {
		a.setCookie = cs[0]
	}
	return a
}

// TestWeightedSplitByService: weights 50/50 over services of one and five
// replicas split the requests by service (within 4 standard deviations of
// half each), not by replica (which would give blue a sixth), and green's
// replicas share its half.
func TestWeightedSplitByService(t *testing.T) {
	gf := blueGreen(t, "50", "50")
	gf.waitFor(t, "/app/", http.StatusOK)
	const n = 2000
	byService, byReplica := map[string]int{}, map[string]int{}
	for range n {
		a := gf.send(t, http.DefaultClient, "/app/")
		if a.code != http.StatusOK {
			t.Fatalf("GET /app/ = %d %q", a.code, a.body)
		}
		byService[serviceOf(a.replica)]++
		byReplica[a.replica]++
	}
	if sigma := math.Sqrt(n * 0.25); math.Abs(float64(byService["blue"])-n/2) > 4*sigma {
		t.Errorf("%d requests over 50/50: %v, want %d ±%.0f each", n, byService, n/2, 4*sigma)
	}
	for _, a := range greenAddrs {
		if got := byReplica[a]; got < byService["green"]/5-40 || got > byService["green"]/5+40 {
			t.Errorf("green's replica %s served %d of green's %d, want about a fifth: %v", a, got, byService["green"], byReplica)
		}
	}
}

// TestWeightZero: a side of weight 0 gets no request; when every weight is
// 0 the route is kept and answers 503, not 404, saying why.
func TestWeightZero(t *testing.T) {
	gf := blueGreen(t, "0", "1")
	gf.waitFor(t, "/app/", http.StatusOK)
	for range 50 {
		if a := gf.send(t, http.DefaultClient, "/app/"); a.code != http.StatusOK || serviceOf(a.replica) != "green" {
			t.Fatalf("blue at weight 0: GET /app/ = %d from %q, want 200 from green", a.code, a.replica)
		}
	}
	gf.setWeight("green", "0")
	gf.waitFor(t, "/app/", http.StatusServiceUnavailable)
	a := gf.send(t, http.DefaultClient, "/app/")
	if !strings.Contains(a.body, `every service sharing the path "/app" has weight 0`) {
		t.Errorf("every weight 0: %d %q, want a 503 saying every weight is 0", a.code, a.body)
	}
}

// TestWeightFlip: a blue-green switch by label, 100/0 to 0/100 (green
// raised first, then blue lowered, as two `docker service update`s do it)
// under 200 requests/s: no request fails, every request sent well before
// the first change (50 ms: a request in flight may reach the gateway after
// the change was applied) is answered by blue, and every request sent 0.5 s
// after the second change is answered by green.
func TestWeightFlip(t *testing.T) {
	gf := blueGreen(t, "100", "0")
	gf.waitFor(t, "/app/", http.StatusOK)
	gf.fe.WaitSubscribed(t)
	type result struct {
		sent time.Time
		a    weightedAnswer
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		began   time.Time // the first change was made
		flipped time.Time // the second change was made
	)
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(5 * time.Millisecond) // 200 requests/s
	defer tick.Stop()
	start := time.Now()
	for now := range tick.C {
		if now.Sub(start) > 3*time.Second {
			break
		}
		if flipped.IsZero() && now.Sub(start) > time.Second {
			began = time.Now()
			gf.setWeight("green", "100")
			gf.setWeight("blue", "0")
			flipped = time.Now()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now() // not the tick's: a tick may be read late
			a := gf.send(t, client, "/app/")
			mu.Lock()
			results = append(results, result{sent, a})
			mu.Unlock()
		}()
	}
	wg.Wait()
	var failed, lateBlue, after, before int
	lastBlue := -time.Second // when the last request blue answered was sent, from the switch
	for _, r := range results {
		if serviceOf(r.a.replica) == "blue" && r.a.code == http.StatusOK {
			lastBlue = max(lastBlue, r.sent.Sub(flipped))
		}
		if r.a.code != http.StatusOK {
			failed++
			t.Logf("failed: %d %q", r.a.code, r.a.body)
		}
		switch {
		case r.sent.Before(began.Add(-50 * time.Millisecond)):
			before++
			if serviceOf(r.a.replica) != "blue" && r.a.code == http.StatusOK {
				t.Errorf("before the switch, answered by %s", r.a.replica)
			}
		case r.sent.After(flipped.Add(500 * time.Millisecond)):
			after++
			if serviceOf(r.a.replica) != "green" {
				lateBlue++
			}
		}
	}
	t.Logf("%d requests; the last one blue answered was sent %v from the switch (negative: before it)", len(results), lastBlue)
	if failed > 0 || lateBlue > 0 || before < 100 || after < 200 {
		t.Errorf("%d requests (%d before the switch, %d from 0.5 s after it): %d failed, %d late ones not from green; want 0 and 0",
			len(results), before, after, failed, lateBlue)
	}
}

// TestSideCookie: with side_cookie, a weighted route's first weightedAnswer sets
// the cookie to the side chosen, and a client that sends it back stays on
// that side, until its weight is 0: then it gets the other side and a new
// cookie. A cookie that names no side of the route gets a fresh choice.
func TestSideCookie(t *testing.T) {
	for _, format := range []string{"caddyfile", "json"} {
		t.Run(format, func(t *testing.T) { testSideCookie(t, format == "json") })
	}
}

func testSideCookie(t *testing.T, useJSON bool) {
	gf := blueGreenFrom(t, useJSON, "50", "50", sideCookie("faas_side"))
	gf.waitFor(t, "/app/", http.StatusOK)
	first := gf.send(t, http.DefaultClient, "/app/")
	c := first.setCookie
	if first.code != http.StatusOK || c == nil || c.Name != "faas_side" || c.Path != "/app" || !c.HttpOnly {
		t.Fatalf("first weightedAnswer %d, cookie %+v: want 200 and faas_side for /app, HttpOnly", first.code, c)
	}
	if strings.Contains(c.Value, "blue") || strings.Contains(c.Value, "green") {
		t.Errorf("cookie %q names the service", c.Value)
	}
	side := serviceOf(first.replica)
	for range 40 {
		a := gf.send(t, http.DefaultClient, "/app/", c)
		if a.code != http.StatusOK || serviceOf(a.replica) != side || a.setCookie != nil {
			t.Fatalf("with the cookie of %s: %d from %s, cookie %v; want 200 from %s and no new cookie", side, a.code, a.replica, a.setCookie, side)
		}
	}
	// Without it, both sides weightedAnswer: the cookie, not chance, kept it.
	seen := map[string]bool{}
	for range 40 {
		seen[serviceOf(gf.send(t, http.DefaultClient, "/app/").replica)] = true
	}
	if len(seen) != 2 {
		t.Errorf("40 requests without a cookie reached %v, want both sides", seen)
	}
	other := map[string]string{"blue": "green", "green": "blue"}[side]
	gf.setWeight(side, "0")
	waitUntil(t, side+" at weight 0 answers no more", func() bool {
		return serviceOf(gf.send(t, http.DefaultClient, "/app/", c).replica) == other
	})
	a := gf.send(t, http.DefaultClient, "/app/", c)
	if serviceOf(a.replica) != other || a.setCookie == nil || a.setCookie.Value == c.Value {
		t.Errorf("cookie of %s at weight 0: answered by %s with cookie %v, want %s and a new cookie", side, a.replica, a.setCookie, other)
	}
	if b := gf.send(t, http.DefaultClient, "/app/", &http.Cookie{Name: "faas_side", Value: "forged"}); b.code != http.StatusOK || b.setCookie == nil {
		t.Errorf("a cookie naming no side: %d, cookie %v; want 200 and a new cookie", b.code, b.setCookie)
	}
}

// TestWeightedViews: the routes API and the metrics show each side of a
// weighted route with its weight and share; an unweighted route has
// neither.
func TestWeightedViews(t *testing.T) {
	st := metricsState(time.Now(), "10.0.1.10")
	st.Services = append(st.Services,
		fake.Service("blue", fake.Enabled("faas.path", "/app", "faas.weight", "3"), fake.ServiceCreated(1)),
		fake.Service("green", fake.Enabled("faas.path", "/app", "faas.weight", "1"), fake.ServiceCreated(2)))
	st.Tasks = append(st.Tasks, fake.Task("blue", "10.0.1.20"), fake.Task("green", "10.0.1.30"))
	w := fake.Watcher(discovery.Options{})
	publish(w, st)

	got := map[string]string{}
	for _, r := range routesOf(w, nil).Routes {
		v := "unweighted"
		if r.Weight != nil && r.Share != nil {
			v = fmt.Sprintf("%d %.2f", *r.Weight, *r.Share)
		}
		got[r.Service] = v
	}
	if want := map[string]string{"s": "unweighted", "blue": "3 0.75", "green": "1 0.25"}; !maps.Equal(got, want) {
		t.Errorf("routes API: %v, want %v", got, want)
	}
	mfs := gather(t, collectorOf(w))
	weights := seriesBy(mfs["faas_gateway_route_weight"], "host", "prefix", "service", "route")
	shares := seriesBy(mfs["faas_gateway_route_share"], "host", "prefix", "service", "route")
	if want := map[string]float64{",/app,blue,": 3, ",/app,green,": 1}; !maps.Equal(weights, want) {
		t.Errorf("faas_gateway_route_weight = %v, want %v", weights, want)
	}
	if want := map[string]float64{",/app,blue,": 0.75, ",/app,green,": 0.25}; !maps.Equal(shares, want) {
		t.Errorf("faas_gateway_route_share = %v, want %v", shares, want)
	}
}
