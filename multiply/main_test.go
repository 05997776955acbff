package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// exact computes op on big integers and says whether the result fits int64.
func exact(op string, x, y int64) (int64, bool) {
	bx, by := big.NewInt(x), big.NewInt(y)
	r := new(big.Int)
	if op == "add" {
		r.Add(bx, by)
	} else {
		r.Mul(bx, by)
	}
	return r.Int64(), r.IsInt64()
}

func TestOverflowMatchesBigInt(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, 3037000499, 3037000500, -3037000500, 1 << 32, -(1 << 32), 1<<62 + 1, -1 << 62, 1<<63 - 1, -1 << 63}
	for _, x := range edges {
		for _, y := range edges {
			for op, f := range map[string]operation{"add": add, "multiply": multiply} {
				got, ok := f(x, y)
				want, fits := exact(op, x, y)
				if ok != fits || (ok && got != want) {
					t.Errorf("%s(%d, %d) = %d, %v; want %d, %v", op, x, y, got, ok, want, fits)
				}
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the program on a free port until cancel is called.
func startRun(t *testing.T, env map[string]string) (addr string, cancel func(), done <-chan error, out *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	out = new(syncBuffer)
	go func() {
		errc <- run(ctx, []string{"multiply", "-addr", addr}, func(k string) string { return env[k] }, out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for probe(context.Background(), addr) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up; output %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, cancel, errc, out
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	addr, cancel, done, out := startRun(t, map[string]string{"SERVICE_ID": "task-7", "SHUTDOWN_DELAY": "0"})

	// A slow client: its POST body is still arriving when shutdown starts,
	// so the request is in flight, and must still be answered.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "x=10&y=25"
	if _, err := fmt.Fprintf(conn, "POST /api/v1/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:4]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the handler is reading the body
	cancel()                          // SIGTERM
	time.Sleep(50 * time.Millisecond)
	if _, err := io.WriteString(conn, body[4:]); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp), `"Result":35`) || !strings.Contains(string(resp), `"ServiceID":"task-7"`) {
		t.Errorf("in-flight request got %q", resp)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after SIGTERM, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("output %q does not say it shuts down", out.String())
	}
	// New connections are refused once it has stopped.
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestHealthcheckFlag(t *testing.T) {
	addr, cancel, done, _ := startRun(t, nil)
	defer func() { cancel(); <-done }()
	if err := run(context.Background(), []string{"multiply", "-healthcheck", "-addr", addr}, func(string) string { return "" }, io.Discard); err != nil {
		t.Errorf("healthcheck against a live server: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	// Nothing listens on port+1 (almost surely): the probe must fail.
	dead := fmt.Sprintf("127.0.0.1:%d", mustAtoi(port)+1)
	if err := run(context.Background(), []string{"multiply", "-healthcheck", "-addr", dead}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("healthcheck against nothing succeeded")
	}
}

func TestBadFlags(t *testing.T) {
	if err := run(context.Background(), []string{"multiply", "-nope"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"multiply", "-addr", "not an address"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("bad address accepted")
	}
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestDrainOnSIGTERM: after SIGTERM, for SHUTDOWN_DELAY, new connections are
// still served and /healthz answers 503; then the server stops.
func TestDrainOnSIGTERM(t *testing.T) {
	const delay = 700 * time.Millisecond
	addr, cancel, done, out := startRun(t, map[string]string{"SERVICE_ID": "task-8", "SHUTDOWN_DELAY": delay.String()})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a new connection each time
	stopped := time.Now()
	cancel() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	for _, tt := range []struct {
		path string
		want int
	}{{"/api/v1/add?x=10&y=25", 200}, {"/healthz", 503}} {
		resp, err := client.Get("http://" + addr + tt.path)
		if err != nil {
			t.Fatalf("GET %s while draining: %v", tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s while draining: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
		if took := time.Since(stopped); took < delay {
			t.Errorf("stopped after %v, before the %v delay", took, delay)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after the delay")
	}
	if !strings.Contains(out.String(), "draining") {
		t.Errorf("output %q does not say it drains", out.String())
	}
}

func TestBadDelays(t *testing.T) {
	for _, tt := range []struct{ key, val string }{
		{"SHUTDOWN_DELAY", "soon"},
		{"RESPONSE_DELAY", "soon"},
		{"RESPONSE_DELAY", "-1s"},
		{"RESPONSE_DELAY", "2h"},
	} {
		env := map[string]string{tt.key: tt.val}
		if err := run(context.Background(), []string{"multiply"}, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s=%s: %v, want an error naming it", tt.key, tt.val, err)
		}
	}
}
