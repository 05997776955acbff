package peers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// Group is this gateway's membership of the swarm's gateways: it serves this
// gateway's report, polls the others' and says who decides. Start it once;
// Stop ends its goroutines.
type Group struct {
	cfg    Config
	report func() scaling.Report

	serverTLS *tls.Config
	client    *http.Client

	v atomic.Pointer[view]

	mu     sync.Mutex // guards cancel
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg, fills its defaults and loads the certificates. report
// returns this gateway's own report; it is called for every peer's fetch,
// concurrently.
func New(cfg Config, report func() scaling.Report) (*Group, error) {
	if report == nil {
		return nil, errors.New("peers: a report func is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	serverTLS, clientTLS, err := cfg.tlsConfigs()
	if err != nil {
		return nil, err
	}
	g := &Group{
		cfg:       cfg,
		report:    report,
		serverTLS: serverTLS,
		client: &http.Client{
			Transport: &http.Transport{
				TLSClientConfig:     clientTLS,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     cfg.liveFor() + cfg.Interval,
			},
			// A poll waits for no fetch longer than one interval.
			Timeout: cfg.Interval,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	g.v.Store(&view{peers: map[netip.Addr]seen{}})
	return g, nil
}

// Start listens on the configured address and starts serving and polling
// until ctx ends or Stop is called.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancel != nil {
		return errors.New("peers: already started")
	}
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("peers: listening for peers: %w", err)
	}
	ctx, g.cancel = context.WithCancel(ctx)
	srv := g.server()
	g.wg.Add(3)
	go func() {
		defer g.wg.Done()
		if err := srv.Serve(tls.NewListener(ln, g.serverTLS)); !errors.Is(err, http.ErrServerClosed) {
			g.cfg.Logger.Error("serving the peer report", zap.Error(err))
		}
	}()
	go func() {
		defer g.wg.Done()
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), g.cfg.Interval)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			_ = srv.Close()
		}
	}()
	go func() {
		defer g.wg.Done()
		g.poll(ctx)
	}()
	return nil
}

// Stop stops serving and polling and waits for the goroutines to end. It
// may be called more than once, and without Start.
func (g *Group) Stop() {
	g.mu.Lock()
	cancel := g.cancel
	g.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
	g.client.CloseIdleConnections()
}

// Leader reports whether this gateway decides now: the live gateway with
// the lowest address does, or this one alone when it is not in the answer.
func (g *Group) Leader() bool {
	return g.v.Load().leader(time.Now(), g.cfg.liveFor())
}

// Reports returns the latest report of every other live gateway, ordered
// by address. The reports' maps are shared: read them, do not change them.
func (g *Group) Reports() []scaling.Report {
	return g.v.Load().reports(time.Now(), g.cfg.liveFor())
}

// Interface guards
var _ scaling.Peers = (*Group)(nil)
