// Command multiply is the demo service behind faas-gateway: it adds and
// multiplies two integers and says which replica answered.
//
//	GET /api/v1/add?x=10&y=25      {"Data":{"Operation":"add","X":10,"Y":25,"Result":35,"ServiceID":"..."}}
//	GET /api/v1/multiply?x=6&y=7   {"Data":{"Operation":"multiply",...,"Result":42,...}}
//	GET /healthz                   ok
//
// POST to either operation takes x and y from a form body of at most 64 KiB
// (413 beyond). Any other method on these paths answers 405 with an Allow
// header (HEAD is served like GET; /healthz takes GET and HEAD only).
//
// Flags: -addr (default :8080), -healthcheck (probe -addr's /healthz and exit
// 0 or 1: the image's HEALTHCHECK, since a scratch image has no curl),
// -shutdown-delay, -shutdown-timeout, -response-delay (RESPONSE_DELAY,
// default 0: each operation's answer held that long, a slower workload for
// load tests). SERVICE_ID names the replica (default: the hostname).
//
// On SIGTERM it drains: for -shutdown-delay (SHUTDOWN_DELAY, default 2s) it
// keeps serving every request, new connections included, while /healthz
// answers 503, so that requests a gateway sent before it learnt of the stop
// are answered; then it stops accepting and gives in-flight requests
// -shutdown-timeout to finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// defaultShutdownDelay is how long multiply keeps serving after SIGTERM:
// about what a gateway takes to learn that a container is leaving.
const defaultShutdownDelay = 2 * time.Second

// maxResponseDelay bounds -response-delay, so that no setting holds
// requests beyond any client's patience.
const maxResponseDelay = time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "multiply:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs passed in so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to listen on")
	healthcheck := fs.Bool("healthcheck", false, "probe the running server's /healthz and exit")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long in-flight requests get to finish on SIGTERM")
	delay := defaultShutdownDelay
	if v := getenv("SHUTDOWN_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("SHUTDOWN_DELAY=%q: want a duration such as 2s (0 to stop at once)", v)
		}
		delay = d
	}
	shutdownDelay := fs.Duration("shutdown-delay", delay, "how long to keep serving after SIGTERM, with /healthz answering 503 (default SHUTDOWN_DELAY, else 2s)")
	var respond time.Duration
	if v := getenv("RESPONSE_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxResponseDelay {
			return fmt.Errorf("RESPONSE_DELAY=%q: want a duration from 0 to %v, such as 100ms", v, maxResponseDelay)
		}
		respond = d
	}
	responseDelay := fs.Duration("response-delay", respond, "how long each answer of an operation is held (default RESPONSE_DELAY, else 0): a slower workload, for load tests")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *healthcheck {
		return probe(ctx, *addr)
	}

	id := getenv("SERVICE_ID")
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
	var draining atomic.Bool
	srv := &http.Server{
		Handler:           newMux(id, draining.Load, *responseDelay),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	fmt.Fprintf(stdout, "multiply %s listening on %s\n", id, ln.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	if *shutdownDelay > 0 {
		draining.Store(true)
		fmt.Fprintf(stdout, "multiply draining: serving %v more, /healthz answers 503\n", *shutdownDelay)
		select {
		case err := <-serveErr:
			return fmt.Errorf("serving: %w", err)
		case <-time.After(*shutdownDelay):
		}
	}
	fmt.Fprintln(stdout, "multiply shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// probe asks the server on addr for /healthz.
func probe(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}
