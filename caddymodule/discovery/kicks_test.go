package discovery

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// idle is a source that never lists: the test publishes.
type idle struct{}

func (idle) Engine() string                   { return "test" }
func (idle) Run(ctx context.Context, _ *Feed) { <-ctx.Done() }
func (idle) Close() error                     { return nil }

// TestKickQueuesOnlyWhatANewListingCouldChange: a kick queues a re-list of
// a routed service once per interval, and never one of a service that
// converges (its source re-lists it anyway), that is scaled to zero, or
// that is unknown.
func TestKickQueuesOnlyWhatANewListingCouldChange(t *testing.T) {
	now := time.Unix(1000, 0)
	w := New(idle{}, Options{Now: func() time.Time { return now }})
	rep := NewReport()
	rep.Services["s"] = ServiceStatus{ID: "sid"}
	rep.Services["c"] = ServiceStatus{ID: "cid", Converging: true}
	rep.Services["zero"] = ServiceStatus{ID: "zid", Idle: true}
	feed := NewFeed(w)
	feed.Publish(routing.NewTable(), rep, true)

	for _, svc := range []string{"s", "c", "zero", "unknown", "s"} {
		w.Kick(svc)
	}
	if got := feed.TakeKicks(); !slices.Equal(got, []string{"sid"}) {
		t.Errorf("kicked %v, want [sid] once", got)
	}
	w.Kick("s")
	if got := feed.TakeKicks(); len(got) != 0 {
		t.Errorf("a kick within the interval queued %v", got)
	}
	now = now.Add(minKickInterval + time.Millisecond)
	w.Kick("s")
	if got := feed.TakeKicks(); !slices.Equal(got, []string{"sid"}) {
		t.Errorf("a kick after the interval queued %v, want [sid]", got)
	}
}
