package fake

// This file holds what tests of the layers above discovery use: a source
// that lists nothing, for tests that publish their own tables, and a wait
// for a watcher's routes.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery"
)

// Source is a discovery source that never lists: a test publishes to its
// watcher through discovery.NewFeed.
type Source struct{}

// Engine names no engine.
func (Source) Engine() string { return "" }

// Run waits for ctx to end.
func (Source) Run(ctx context.Context, _ *discovery.Feed) { <-ctx.Done() }

// Close does nothing.
func (Source) Close() error { return nil }

// Watcher returns a watcher of a Source, not started, with opts' clock and
// logger.
func Watcher(opts discovery.Options) *discovery.Watcher { return discovery.New(Source{}, opts) }

// WaitUpstreams waits until the route /s of w has exactly want as
// upstreams, and returns how long that took.
func WaitUpstreams(t testing.TB, w *discovery.Watcher, within time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var got []string
		if r := w.Table().Match("", "/s"); r != nil {
			got = r.Pick().Upstreams
		}
		if slices.Equal(got, want) && (got != nil || len(want) == 0) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v upstreams of /s = %v, want %v", within, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ discovery.Source = Source{}
