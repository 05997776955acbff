package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/faas-gateway/faas-gateway/internal/grpchealth"
)

// startService runs one replica, "r1", on a loopback port, served as main
// serves it.
func startService(t *testing.T) (*httptest.Server, *service) {
	t.Helper()
	svc := newService("r1")
	ts := httptest.NewUnstartedServer(svc)
	ts.Config = newServer(svc)
	ts.Start()
	t.Cleanup(func() { ts.Close(); svc.grpc.Stop() })
	return ts, svc
}

func TestHTTPEndpoints(t *testing.T) {
	ts, _ := startService(t)
	tests := []struct {
		path     string
		wantCode int
		wantCT   string
		want     string
	}{
		{"/id", 200, "application/json", `{"ServiceID":"r1"}` + "\n"},
		{"/healthz", 200, "", "ok\n"},
		{"/sse?n=3&every=10ms", 200, "text/event-stream", "data: 0 r1\n\ndata: 1 r1\n\ndata: 2 r1\n\n"},
		{"/stream?wait=50ms&n=2&every=10ms", 200, "text/plain; charset=utf-8", "line 0 r1\nline 1 r1\n"},
		{"/sse?n=0", 400, "", "n=\"0\": want 1 to 1000\n"},
		{"/stream?wait=1h", 400, "", "wait=\"1h\": want a duration from 0 to 2m0s\n"},
		{"/nope", 404, "", "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || string(body) != tt.want {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantCode, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); tt.wantCT != "" && ct != tt.wantCT {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantCT)
			}
		})
	}
}

func TestWebSocketEchoAndShutdown(t *testing.T) {
	ts, svc := startService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, id, err := c.Read(ctx); err != nil || string(id) != "r1" {
		t.Fatalf("first message %q, %v: want the replica's id", id, err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, echo, err := c.Read(ctx); err != nil || string(echo) != "hello" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	if err := ts.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("after shutdown: %v, want a close with 1001 (going away)", err)
	}
	// The close handshake done, the handler has returned: main may exit.
	if err := svc.waitSockets(ctx); err != nil {
		t.Error(err)
	}
}

func TestGRPCHealthOverH2C(t *testing.T) {
	ts, _ := startService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := grpchealth.Check(ctx, ts.Listener.Addr().String())
	if err != nil || status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check: %v, %v; want SERVING", status, err)
	}
}

// TestID checks the JSON shape the end-to-end tests decode.
func TestID(t *testing.T) {
	ts, _ := startService(t)
	resp, err := http.Get(ts.URL + "/id")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ ServiceID string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.ServiceID != "r1" {
		t.Errorf("got %+v, %v", v, err)
	}
}
