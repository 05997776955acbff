// Command testsvc is the end-to-end tests' service for what multiply does
// not speak: gRPC over h2c, WebSockets, server-sent events and slow
// streams. Every answer says which replica gave it.
//
//	GET /id                        {"ServiceID":"..."}
//	GET /ws                        WebSocket: the replica's id, then an echo of each message
//	GET /sse?n=5&every=100ms       text/event-stream: n events "data: <i> <id>", one every interval
//	GET /stream?wait=35s&n=3&every=1s
//	                               nothing for wait (not even headers), then n lines, one every interval
//	gRPC grpc.health.v1.Health     SERVING, over HTTP/2 without TLS (h2c) on the same port
//	GET /healthz                   ok
//
// On SIGTERM it stops accepting, closes its WebSockets (1001, going away),
// and gives the rest up to -shutdown-timeout. Flags: -addr (default :8080),
// -healthcheck (probe -addr's /healthz and exit 0 or 1, for the image's
// HEALTHCHECK). SERVICE_ID names the replica (default: the hostname).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "testsvc:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to listen on")
	healthcheck := fs.Bool("healthcheck", false, "probe the running server's /healthz and exit")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long requests in flight get to finish on SIGTERM")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *healthcheck {
		return probe(*addr)
	}
	id := os.Getenv("SERVICE_ID")
	if id == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("finding a service id: set SERVICE_ID: %w", err)
		}
		id = h
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	svc := newService(id)
	defer svc.grpc.Stop()
	srv := newServer(svc)
	fmt.Printf("testsvc %s listening on %s\n", id, ln.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return svc.waitSockets(sctx)
}

// newServer serves svc over HTTP/1.1 and HTTP/2 without TLS (h2c, as gRPC
// clients and the gateway's grpc policy speak it). Shutdown also closes the
// WebSockets, which net/http no longer tracks once hijacked.
func newServer(svc *service) *http.Server {
	srv := &http.Server{
		Handler:           svc,
		ReadHeaderTimeout: 5 * time.Second,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.RegisterOnShutdown(svc.shutdown)
	return srv
}

// probe asks the server at addr for /healthz.
func probe(addr string) error {
	url, err := healthzURL(addr)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	return nil
}

// healthzURL is the /healthz URL of the server listening on addr. A listen
// address of every interface (no host, 0.0.0.0 or ::) is dialled on the
// loopback, as multiply's probe does.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
