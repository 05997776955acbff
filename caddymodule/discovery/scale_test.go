package discovery

import (
	"context"
	"testing"
)

// scalingSource is a source that records the scale calls it gets.
type scalingSource struct {
	idle
	name  string
	calls *[]string
}

func (s scalingSource) Scale(_ context.Context, id string, n uint64) error {
	*s.calls = append(*s.calls, s.name+":"+id)
	return nil
}

// TestWatcherScale checks that a scale call goes to the scaling source
// of the service's engine ("" for the first), and fails for an engine
// without one.
func TestWatcherScale(t *testing.T) {
	var calls []string
	w := NewEngines([]EngineSources{
		{Name: "blue", Sources: []Source{scalingSource{name: "blue-swarm", calls: &calls}, idle{}}},
		{Name: "green", Sources: []Source{idle{}, scalingSource{name: "green-swarm", calls: &calls}}},
		{Name: "red", Sources: []Source{idle{}}},
	}, Options{})
	for _, tt := range []struct {
		engine, want string
		fails        bool
	}{
		{engine: "", want: "blue-swarm:s"},
		{engine: "blue", want: "blue-swarm:s"},
		{engine: "green", want: "green-swarm:s"},
		{engine: "red", fails: true},
		{engine: "nowhere", fails: true},
	} {
		calls = nil
		err := w.Scale(context.Background(), tt.engine, "s", 1)
		if tt.fails != (err != nil) || !tt.fails && (len(calls) != 1 || calls[0] != tt.want) {
			t.Errorf("engine %q: err %v, calls %q; want %q (fails %v)", tt.engine, err, calls, tt.want, tt.fails)
		}
	}
}
