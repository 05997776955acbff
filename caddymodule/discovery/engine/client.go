package engine

// This file holds the Docker client of a source and the way it calls it:
// each call within its time limit, its failures counted by endpoint, and
// retries backed off.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"github.com/docker/docker/client"
	"go.uber.org/zap"
)

// Conn says how to reach a Docker API; empty fields come from the
// environment, as for the docker CLI.
type Conn struct {
	DockerHost, TLSCA, TLSCert, TLSKey string
	// NoEnv ignores the environment: an engine of several has its own
	// address and TLS files, and DOCKER_CERT_PATH is no more its than
	// another's.
	NoEnv bool
}

// TLS reports whether a client of c speaks TLS: when c names
// certificates, or the environment does (DOCKER_CERT_PATH), as for the
// docker CLI.
func (c Conn) TLS() bool {
	return c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != "" || os.Getenv("DOCKER_CERT_PATH") != ""
}

// NewClient connects the way the docker CLI does: DOCKER_HOST,
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from the environment, overridden
// by c's fields when they are set (or c's fields alone, with NoEnv). The API version is negotiated with the
// engine, never pinned, so both old engines (API 1.41) and current ones
// (which refuse anything below 1.44) work. The client negotiates on its
// first call and is not safe for concurrent calls until then, so a source
// opens its event stream only after a listing has succeeded.
func NewClient(c Conn) (*client.Client, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if !c.NoEnv {
		opts = append(opts, client.FromEnv)
	}
	if c.DockerHost != "" {
		opts = append(opts, client.WithHost(c.DockerHost))
	}
	if c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != "" {
		opts = append(opts, client.WithTLSClientConfig(c.TLSCA, c.TLSCert, c.TLSKey))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	return cli, nil
}

// Caller runs a source's API calls. Each call has its own time limit, so
// a slow engine slows a listing down without making every listing fail.
type Caller struct {
	Timeout time.Duration
	// Failed, if set, is told of every call that fails, by endpoint.
	Failed func(endpoint string, err error)
}

// Call runs one API call within the time limit, and names the endpoint
// (and the limit, when it was hit) in its error.
func (c Caller) Call(ctx context.Context, endpoint string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	err := f(ctx)
	if err != nil && c.Failed != nil && !errors.Is(err, context.Canceled) {
		c.Failed(endpoint, err)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer within api_timeout %v: %w", endpoint, c.Timeout, err)
	default:
		return fmt.Errorf("%s: %w", endpoint, err)
	}
}

// Backoff bounds for retrying the Docker API and the event stream.
const (
	MinBackoff = 250 * time.Millisecond
	MaxBackoff = time.Second
)

// Backoff is the wait before retry attempt (1 for the first): doubling
// from MinBackoff up to MaxBackoff.
func Backoff(attempt int) time.Duration {
	d := MinBackoff
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// ResetTimer makes t fire after d, whether it fired or not.
func ResetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// RecoverListing, deferred by a listing, turns a panic (from an engine
// answer the code did not expect) into the listing's failure: logged with
// its stack, then failed, to be retried with backoff, so that one odd
// answer cannot stop a source's loop. what names what was listed.
func RecoverListing(log *zap.Logger, what string, failed func(error)) {
	if p := recover(); p != nil {
		log.Error("listing "+what+" panicked; retrying", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		failed(fmt.Errorf("listing panicked: %v", p))
	}
}

// API is what every source's Docker client answers besides its calls.
type API interface {
	DaemonHost() string
	Close() error
}

// Reader is what a source reads its engine through: its Docker client
// (of the source's own narrow interface) and the gateway's own
// addresses. It names the engine and closes the client for the source.
type Reader[A API] struct {
	API A
	// LocalAddrs returns the gateway's own addresses, to tell the
	// networks it is on; replaced in tests. Default: InterfaceAddrs
	LocalAddrs func() []netip.Addr
}

// NewReader returns the reader of api.
func NewReader[A API](api A) Reader[A] { return Reader[A]{API: api, LocalAddrs: InterfaceAddrs} }

// Engine names the Docker API the source reads.
func (r Reader[A]) Engine() string { return r.API.DaemonHost() }

// Close closes the Docker client.
func (r Reader[A]) Close() error { return r.API.Close() }
