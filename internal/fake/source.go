package fake

// This file holds what tests of discovery and the layers above it use: a
// source that lists nothing, for tests that publish their own tables, a
// wait for a watcher's routes, and a check of a report's problems.

import (
	"context"
	"slices"
	"strings"
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

// CheckProblems checks that rep has exactly the problems of want: by
// service, or service/route, a substring of its message.
func CheckProblems(t testing.TB, rep discovery.Report, want map[string]string) {
	t.Helper()
	if len(rep.Problems) != len(want) {
		t.Errorf("problems = %v, want %v", rep.Problems, want)
	}
	for svc, sub := range want {
		k := discovery.ProblemKey{Service: svc}
		if s, r, ok := strings.Cut(svc, "/"); ok {
			k = discovery.ProblemKey{Service: s, Route: r}
		}
		if !strings.Contains(rep.Problems[k].Message, sub) {
			t.Errorf("problem for %s = %q, want it to contain %q", svc, rep.Problems[k].Message, sub)
		}
	}
}

var _ discovery.Source = Source{}
