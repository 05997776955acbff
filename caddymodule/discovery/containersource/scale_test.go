package containersource

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/faas-gateway/faas-gateway/internal/fake"
)

// TestScale: on an engine of 5,000 containers, 500 of them labelled (50
// compose services of 10), a full listing is one container call and one
// network call answered with the labelled ones only, and a change costs
// a listing of the container it is about: discovery's cost follows the
// change, not the engine.
func TestScale(t *testing.T) {
	var cs []container.Summary
	for i := range 5000 {
		c := fake.Container(fmt.Sprintf("c%04d", i), fmt.Sprintf("c%04d", i), fmt.Sprintf("10.0.%d.%d", 1+i/250, 1+i%250), 0)
		if i%10 != 0 {
			delete(c.Labels, "faas.enable")
		} else {
			svc := fmt.Sprintf("s%02d", i/100)
			fake.Compose("p", svc)(&c)
		}
		cs = append(cs, c)
	}
	api := newFakeAPI(cs...)
	w, l, _, _ := testLoop(t, api)
	ctx := context.Background()
	l.resync(ctx)
	if got := api.takeCalls(); !slices.Equal(got, []string{"list", "networks"}) {
		t.Errorf("a full listing called %v, want [list networks]", got)
	}
	if n := len(l.containers); n != 500 {
		t.Errorf("%d containers kept, want the 500 labelled", n)
	}
	if n := w.Table().Len(); n != 50 {
		t.Errorf("%d routes, want 50", n)
	}
	l.eventsArrived(ctx, event(events.ActionDie, "c0010"))
	if got := api.takeCalls(); !slices.Equal(got, []string{"list c0010"}) {
		t.Errorf("one container's event called %v, want [list c0010]", got)
	}
}
