package main

// This file holds testsvc's handlers.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// maxEvents bounds n in /sse and /stream, and maxDelay wait and every, so
// that a test cannot make a replica stream for ever.
const (
	maxEvents = 1000
	maxDelay  = 2 * time.Minute
)

// service answers every endpoint of one replica.
type service struct {
	id   string
	mux  *http.ServeMux
	grpc *grpc.Server
	// stopping is closed on shutdown: WebSockets then close.
	stopping context.Context
	shutdown context.CancelFunc
	// sockets counts the WebSockets being served, which the HTTP server's
	// Shutdown does not wait for (they are hijacked).
	sockets sync.WaitGroup
}

// waitSockets waits until every WebSocket has closed after a shutdown (its
// close handshake done), or ctx ends: the process must not exit before
// its going-away frames are sent.
func (s *service) waitSockets(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for WebSockets to close: %w", ctx.Err())
	}
}

func newService(id string) *service {
	s := &service{id: id, mux: http.NewServeMux(), grpc: grpc.NewServer()}
	s.stopping, s.shutdown = context.WithCancel(context.Background())
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, hs)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /id", s.serveID)
	s.mux.HandleFunc("GET /ws", s.serveWebSocket)
	s.mux.HandleFunc("GET /sse", s.serveSSE)
	s.mux.HandleFunc("GET /stream", s.serveStream)
	return s
}

// ServeHTTP sends gRPC (HTTP/2, application/grpc) to the gRPC server and
// the rest to the mux.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		s.grpc.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *service) serveID(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct{ ServiceID string }{s.id})
}

// serveWebSocket sends the replica's id, then echoes each message, until
// the client closes or the replica shuts down (1001, going away).
func (s *service) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.sockets.Add(1)
	defer s.sockets.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, func() { c.Close(websocket.StatusGoingAway, "replica stopping") })
	defer stop()
	if err := c.Write(ctx, websocket.MessageText, []byte(s.id)); err != nil {
		return
	}
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// serveSSE sends n events, one every interval.
func (s *service) serveSSE(w http.ResponseWriter, r *http.Request) {
	n, every, _, err := streamParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	s.emit(w, r, n, every, func(i int) string { return fmt.Sprintf("data: %d %s\n\n", i, s.id) })
}

// serveStream waits (before sending anything, headers included), then
// sends n lines, one every interval: a response that starts late.
func (s *service) serveStream(w http.ResponseWriter, r *http.Request) {
	n, every, wait, err := streamParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !sleep(r.Context(), wait) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	s.emit(w, r, n, every, func(i int) string { return fmt.Sprintf("line %d %s\n", i, s.id) })
}

// emit writes n pieces, flushing each, every interval apart.
func (s *service) emit(w http.ResponseWriter, r *http.Request, n int, every time.Duration, piece func(int) string) {
	rc := http.NewResponseController(w)
	for i := range n {
		if i > 0 && !sleep(r.Context(), every) {
			return
		}
		if _, err := fmt.Fprint(w, piece(i)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// streamParams reads n (default 3), every (default 100ms) and wait
// (default 0) from the query.
func streamParams(r *http.Request) (n int, every, wait time.Duration, err error) {
	q := r.URL.Query()
	n, every = 3, 100*time.Millisecond
	if v := q.Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxEvents {
			return 0, 0, 0, fmt.Errorf("n=%q: want 1 to %d", v, maxEvents)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"every", &every}, {"wait", &wait}} {
		if v := q.Get(p.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > maxDelay {
				return 0, 0, 0, fmt.Errorf("%s=%q: want a duration from 0 to %v", p.name, v, maxDelay)
			}
			*p.dst = d
		}
	}
	return n, every, wait, nil
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
