package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/faas-gateway/faas-gateway/internal/grpchealth"
	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The credentials of the private policy in the test stack: the default
// user, and the password whose hash testdata/policies.yml gives the gateway.
const privateUser, privatePassword = "admin", "e2e-only-password"

// lateStart is how late /stream starts its response in the streaming
// test: longer than the default route's response_header_timeout (30s).
const lateStart = 32 * time.Second

// TestPolicies deploys the stack with services that choose the default
// Caddyfile's policies (testdata/policies.yml) and checks each, then
// WebSockets and SSE with the default handling, what a rolling update does
// to open WebSockets, and that a service with a policy loses no request
// through scaling and a rolling update.
func TestPolicies(t *testing.T) {
	requireSwarm(t)
	if _, err := docker(t, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", testsvcImage); err != nil {
		unavailable(t, "image %s not built: run `make images`", testsvcImage)
	}
	deployStack(t, "stack.yml", "e2e/testdata/policies.yml")
	eventually(t, "multiply and testsvc answer", 3*time.Minute, func() error {
		for _, p := range []string{"/multiply/api/v1/add?x=10&y=25", "/sticky/api/v1/add?x=10&y=25", "/testsvc/id", "/slow/id"} {
			if code, body, err := get(p); err != nil || code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %q %v", p, code, body, err)
			}
		}
		return nil
	})
	// Every replica routed, so that spreads can be counted.
	eventually(t, "3 multiply and 2 testsvc replicas answer", 2*time.Minute, func() error {
		for path, want := range map[string]int{"/multiply/api/v1/add?x=10&y=25": 3, "/testsvc/id": 2} {
			if seen, err := replicasOf(httpClient, path, 10*want); err != nil || len(seen) != want {
				return fmt.Errorf("%s: replicas %v, %v; want %d", path, seen, err, want)
			}
		}
		return nil
	})

	t.Run("sticky: a cookie pins a client, a client without one spreads", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		pinned, err := replicasOf(&http.Client{Jar: jar, Timeout: 5 * time.Second}, "/sticky/api/v1/add?x=10&y=25", 100)
		if err != nil || len(pinned) != 1 {
			t.Errorf("a client with a cookie jar reached %v (%v), want one replica for all 100 requests", pinned, err)
		}
		spread, err := replicasOf(httpClient, "/sticky/api/v1/add?x=10&y=25", 100)
		if err != nil || len(spread) != 3 {
			t.Errorf("a client without cookies reached %v (%v), want all 3 replicas", spread, err)
		}
	})

	t.Run("private: basic auth", func(t *testing.T) {
		for _, c := range []struct {
			user, password string
			want           int
		}{{"", "", http.StatusUnauthorized}, {privateUser, "wrong", http.StatusUnauthorized}, {privateUser, privatePassword, http.StatusOK}} {
			req, _ := http.NewRequest(http.MethodGet, baseURL+"/private/api/v1/add?x=10&y=25", nil)
			if c.user != "" {
				req.SetBasicAuth(c.user, c.password)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want || c.want == http.StatusOK && !strings.Contains(string(body), `"Result":35`) {
				t.Errorf("user %q password %q: %d %q, want %d", c.user, c.password, resp.StatusCode, body, c.want)
			}
		}
	})

	t.Run("grpc: a health check over h2c", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		status, err := grpchealth.Check(ctx, fmt.Sprintf("127.0.0.1:%d", gatewayPort), grpc.WithAuthority(grpcHost))
		if err != nil || status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc.health.v1.Health/Check through the gateway: %v, %v; want SERVING", status, err)
		}
	})

	t.Run("default handling: server-sent events stream", func(t *testing.T) {
		checkSSE(t, "/testsvc/sse?n=5&every=300ms")
	})

	t.Run("default handling: WebSocket echo", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ws := dialEcho(ctx, t)
		defer ws.conn.CloseNow()
		if err := ws.echo(ctx, "hello through the gateway"); err != nil {
			t.Error(err)
		}
		ws.conn.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("rolling update: only the stopping replica's WebSockets close", func(t *testing.T) {
		rollingUpdateWebSockets(t)
	})

	// After the rolling update: the default route's 504 below counts as a
	// failure of that replica, which passive health checks then keep out
	// for fail_duration (10s).
	t.Run("stream: a response that starts later than the default allows completes", func(t *testing.T) {
		path := fmt.Sprintf("/stream?wait=%v&n=3&every=100ms", lateStart)
		var wg sync.WaitGroup
		var defCode int
		var defErr error
		wg.Go(func() { defCode, _, defErr = slowGet("/testsvc" + path) })
		code, body, err := slowGet("/slow" + path)
		wg.Wait()
		if err != nil || code != http.StatusOK || strings.Count(body, "line ") != 3 {
			t.Errorf("under the stream policy: %d %q %v, want 200 with 3 lines after %v", code, body, err, lateStart)
		}
		// The same request with the default handling: what the policy is for.
		if defErr != nil || defCode != http.StatusGatewayTimeout {
			t.Errorf("with the default handling: %d %v, want 504 (response_header_timeout)", defCode, defErr)
		}
	})

	t.Run("no failed request through scaling and a rolling update, with a policy", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []loadgen.Record, 1)
		go func() {
			done <- loadgen.Run(ctx, loadgen.Config{BaseURL: baseURL, Prefix: "/sticky", Rate: 100, Duration: 5 * time.Minute})
		}()
		// Both commands wait until the service has converged.
		time.Sleep(2 * time.Second)
		_, err := docker(t, 2*time.Minute, "service", "scale", multiplySv+"=5")
		if err == nil {
			_, err = docker(t, 4*time.Minute, "service", "update", "--env-add", "POLICY_TEST=1", multiplySv)
		}
		time.Sleep(2 * time.Second)
		cancel()
		sum := loadgen.Summarize(<-done)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("through /sticky: %d requests, %d failed %v, p99 %v, replicas %d", sum.Sent, sum.Failed, sum.Errors, sum.P99, len(sum.PerReplica))
		if sum.Sent < 500 || sum.Failed != 0 {
			t.Errorf("%d of %d requests failed (%v), want none of at least 500", sum.Failed, sum.Sent, sum.Errors)
		}
	})
}

// replicasOf sends n GETs of path through the gateway with client and
// counts the answers by replica: multiply's Data.ServiceID or testsvc's
// ServiceID.
func replicasOf(client *http.Client, path string, n int) (map[string]int, error) {
	seen := map[string]int{}
	for range n {
		resp, err := client.Get(baseURL + path)
		if err != nil {
			return seen, err
		}
		var r struct {
			ServiceID string
			Data      struct{ ServiceID string }
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return seen, fmt.Errorf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		seen[r.ServiceID+r.Data.ServiceID]++
	}
	return seen, nil
}

// slowGet is a GET through the gateway that may take a minute.
func slowGet(path string) (int, string, error) {
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(baseURL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// checkSSE reads an event stream through the gateway and checks that its
// events arrive as they are sent, not all at the end.
func checkSSE(t *testing.T, path string) {
	t.Helper()
	start := time.Now()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(baseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("GET %s: %d %q, want 200 text/event-stream", path, resp.StatusCode, ct)
	}
	var arrivals []time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	if len(arrivals) != 5 {
		t.Fatalf("%d events (%v), want 5", len(arrivals), sc.Err())
	}
	// Sent 300ms apart: the first must come well before the last.
	if gap := arrivals[4] - arrivals[0]; gap < 900*time.Millisecond {
		t.Errorf("events arrived at %v: buffered, not streamed", arrivals)
	}
}

// echoConn is a WebSocket to testsvc's /ws through the gateway, with the
// replica it reached.
type echoConn struct {
	conn    *websocket.Conn
	replica string
}

func dialEcho(ctx context.Context, t *testing.T) echoConn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/testsvc/ws", gatewayPort), nil)
	if err != nil {
		t.Fatalf("WebSocket through the gateway: %v", err)
	}
	_, id, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("reading the replica's id: %v", err)
	}
	return echoConn{conn: c, replica: string(id)}
}

// echo sends msg and checks that it comes back.
func (e echoConn) echo(ctx context.Context, msg string) error {
	if err := e.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("writing to %s: %w", e.replica, err)
	}
	_, got, err := e.conn.Read(ctx)
	if err != nil || string(got) != msg {
		return fmt.Errorf("echo from %s: %q, %v; want %q", e.replica, got, err, msg)
	}
	return nil
}

// rollingUpdateWebSockets opens WebSockets to both testsvc replicas,
// updates the service one replica at a time, and checks, when the first
// connection closes, that it closed because its replica stopped (1001),
// that the other replica's connections still echo, and that new
// connections land on running replicas; by the end every old connection
// has closed with 1001.
func rollingUpdateWebSockets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type closed struct {
		replica string
		status  websocket.StatusCode
	}
	closes := make(chan closed, 6)
	var conns []echoConn
	echoes := map[*websocket.Conn]chan string{}
	for range 6 {
		c := dialEcho(ctx, t)
		defer c.conn.CloseNow()
		conns = append(conns, c)
		// One reader per connection from now on: it passes on what it
		// reads, and reports how the connection ended.
		msgs := make(chan string, 1)
		echoes[c.conn] = msgs
		go func() {
			for {
				_, msg, err := c.conn.Read(ctx)
				if err != nil {
					closes <- closed{c.replica, websocket.CloseStatus(err)}
					return
				}
				msgs <- string(msg)
			}
		}()
	}
	replicas := map[string]int{}
	for _, c := range conns {
		replicas[c.replica]++
	}
	if len(replicas) != 2 {
		t.Fatalf("6 WebSockets reached %v, want both replicas", replicas)
	}
	mustDocker(t, "service", "update", "--detach", "--env-add", "POLICY_TEST=1", testsvcSv)

	var first closed
	select {
	case first = <-closes:
	case <-ctx.Done():
		t.Fatal("no WebSocket closed during the rolling update")
	}
	statuses := []websocket.StatusCode{first.status}
	// The other replica's connections still echo.
	for _, c := range conns {
		if c.replica == first.replica {
			continue
		}
		if err := c.conn.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
			t.Errorf("a connection to %s, which was not stopping, failed when %s stopped: %v", c.replica, first.replica, err)
			continue
		}
		select {
		case got := <-echoes[c.conn]:
			if got != "still here" {
				t.Errorf("echo from %s: %q", c.replica, got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("no echo from %s, which was not stopping, within 5s of %s stopping", c.replica, first.replica)
		}
	}
	// New connections land on running replicas, never the stopped one.
	for range 4 {
		c := dialEcho(ctx, t)
		if c.replica == first.replica {
			t.Errorf("a new WebSocket reached %s, which has stopped", c.replica)
		} else if err := c.echo(ctx, "after the stop"); err != nil {
			t.Error(err)
		}
		c.conn.Close(websocket.StatusNormalClosure, "")
	}
	// By the end of the update every old connection has closed, each
	// because its replica stopped.
	for range len(conns) - 1 {
		select {
		case c := <-closes:
			statuses = append(statuses, c.status)
		case <-ctx.Done():
			t.Fatalf("after 3 minutes, %d of 6 connections closed, want all", len(statuses))
		}
	}
	for _, st := range statuses {
		if st != websocket.StatusGoingAway {
			t.Errorf("close statuses %v, want 1001 (going away: the replica stopped) for all 6", statuses)
			break
		}
	}
}
