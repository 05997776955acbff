package peers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// poll resolves the name and fetches every peer's report, once per
// interval, until ctx ends.
func (g *Group) poll(ctx context.Context) {
	defer func() {
		if err := recover(); err != nil {
			g.cfg.Logger.Error("peer poller panicked", zap.Any("error", err), zap.Stack("stack"))
		}
	}()
	w := warnings{}
	ticker := time.NewTicker(g.cfg.Interval)
	defer ticker.Stop()
	// Stopped, this gateway neither decides nor reports others.
	defer g.v.Store(&view{})
	for {
		g.pollOnce(ctx, &w)
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
	}
}

// pollOnce does one poll and publishes the view it makes.
func (g *Group) pollOnce(parent context.Context, w *warnings) {
	ctx, cancel := context.WithTimeout(parent, g.cfg.Interval)
	defer cancel()
	answer, err := g.cfg.Resolve(ctx, g.cfg.Name)
	if err == nil && len(answer) == 0 {
		err = fmt.Errorf("no address for %s", g.cfg.Name)
	}
	w.report(g.cfg.Logger, g.cfg.Name, "resolving the gateways' name", err)
	if err != nil {
		answer = nil // keep the last answer
	}
	n := g.v.Load().next(answer, g.cfg.Self)
	addrs := n.addrs()
	results := make([]seen, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			results[i].report, errs[i] = g.fetch(ctx, addr)
			results[i].at = time.Now()
		})
	}
	wg.Wait()
	for i, addr := range addrs {
		w.report(g.cfg.Logger, addr.String(), "fetching a peer's report", errs[i])
		if errs[i] == nil {
			n.peers[addr] = results[i]
		}
	}
	w.keep(g.cfg.Name, addrs)
	if parent.Err() != nil {
		return // stopping: what was cut short is no news
	}
	g.v.Store(n)
}

// fetch gets one peer's report.
func (g *Group) fetch(ctx context.Context, addr netip.Addr) (scaling.Report, error) {
	url := "https://" + netip.AddrPortFrom(addr, g.cfg.Port).String() + reportPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return scaling.Report{}, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return scaling.Report{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scaling.Report{}, fmt.Errorf("status %s", resp.Status)
	}
	return decodeReport(resp.Body)
}
