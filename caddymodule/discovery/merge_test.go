package discovery

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// testClaim is one source's claim: a service created at created routing
// prefix to upstreams, weighted if weight > 0.
type testClaim struct {
	service, prefix string
	created         time.Duration
	weight          uint32
	upstreams       []string
}

// publish publishes claims through feed, as a source's full listing.
func publish(feed *Feed, claims ...testClaim) {
	t := routing.NewTable()
	rep := NewReport()
	for _, c := range claims {
		side := routing.Side{Service: c.service, Weight: c.weight, Upstreams: c.upstreams}
		if msg := Claim(t, "", c.prefix, side, c.weight > 0); msg != "" {
			rep.Add(ProblemKey{Service: c.service}, ReasonClaimed, msg)
		}
		rep.Services[c.service] = ServiceStatus{ID: c.service + "-id", Created: time.Unix(0, 0).Add(c.created)}
	}
	feed.Publish(t, rep, true)
}

// twoSources is a watcher of two sources, not started, logging to an
// observer, and the feeds of both.
func twoSources() (*Watcher, [2]*Feed, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	l := zap.New(core)
	w := NewMany([]Source{idle{}, idle{}}, Options{Log: func() *zap.Logger { return l }})
	return w, [2]*Feed{{w: w, i: 0}, {w: w, i: 1}}, logs
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name         string
		a, b         []testClaim
		want         map[string][]string // prefix -> every side's service
		wantProblems map[string]string   // service -> substring
	}{
		{
			name: "distinct routes: both",
			a:    []testClaim{{service: "svc", prefix: "/svc", upstreams: []string{"10.0.1.1:80"}}},
			b:    []testClaim{{service: "web", prefix: "/web", upstreams: []string{"10.0.2.1:80"}}},
			want: map[string][]string{"/svc": {"svc"}, "/web": {"web"}},
		},
		{
			name:         "one claim from both: the older wins, the other is told whose it is",
			a:            []testClaim{{service: "svc", prefix: "/app", created: time.Hour}},
			b:            []testClaim{{service: "web", prefix: "/app"}},
			want:         map[string][]string{"/app": {"web"}},
			wantProblems: map[string]string{"svc": "prefix /app is already claimed by older service web"},
		},
		{
			name:         "equal ages: the first source wins",
			a:            []testClaim{{service: "svc", prefix: "/app"}},
			b:            []testClaim{{service: "web", prefix: "/app"}},
			want:         map[string][]string{"/app": {"svc"}},
			wantProblems: map[string]string{"web": "already claimed by older service svc"},
		},
		{
			name: "weighted claims from both share the route, oldest first",
			a:    []testClaim{{service: "blue", prefix: "/app", weight: 1, created: time.Hour}},
			b:    []testClaim{{service: "green", prefix: "/app", weight: 3}},
			want: map[string][]string{"/app": {"green", "blue"}},
		},
		{
			name:         "one source's own problems are kept",
			a:            []testClaim{{service: "old", prefix: "/x"}, {service: "new", prefix: "/x", created: time.Minute}},
			b:            nil,
			want:         map[string][]string{"/x": {"old"}},
			wantProblems: map[string]string{"new": "already claimed by older service old"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, feeds, logs := twoSources()
			publish(feeds[0], tt.a...)
			publish(feeds[1], tt.b...)
			got := make(map[string][]string)
			w.Table().Each(func(r *routing.Route) {
				for _, s := range r.Sides {
					got[r.Prefix] = append(got[r.Prefix], s.Service)
				}
			})
			if len(got) != len(tt.want) {
				t.Errorf("routes %v, want %v", got, tt.want)
			}
			for p, want := range tt.want {
				if !slices.Equal(got[p], want) {
					t.Errorf("sides of %s = %v, want %v", p, got[p], want)
				}
			}
			probs := w.Snapshot().Report.Problems
			if len(probs) != len(tt.wantProblems) {
				t.Errorf("problems %v, want %v", probs, tt.wantProblems)
			}
			for svc, sub := range tt.wantProblems {
				if m := probs[ProblemKey{Service: svc}].Message; !strings.Contains(m, sub) {
					t.Errorf("problem of %s = %q, want %q in it", svc, m, sub)
				}
				if n := logs.FilterField(zap.String("service", svc)).FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
					t.Errorf("the lost claim of %s was warned about %d times, want once", svc, n)
				}
			}
			// The sources' own tables are left as they published them,
			// without meters: only the merged table is published.
			for _, f := range feeds {
				f.Last().Table.EachSide(func(_ *routing.Route, s *routing.Side) {
					if s.Meter != nil {
						t.Errorf("a source's own side %s has a meter", s.Service)
					}
				})
			}
		})
	}
}

// TestReadyWhenEverySourceListed: a watcher of two sources is ready once
// both have published a full listing, or one has turned itself off; a
// partial listing does not count.
func TestReadyWhenEverySourceListed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		second func(*Feed)
	}{
		{"listed", func(f *Feed) { publish(f, testClaim{service: "web", prefix: "/web"}) }},
		{"off", (*Feed).Off},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, feeds, _ := twoSources()
			publish(feeds[0], testClaim{service: "svc", prefix: "/svc"})
			feeds[1].Publish(routing.NewTable(), NewReport(), false)
			if w.Synced() {
				t.Fatal("ready before the second source listed in full")
			}
			if !feeds[0].Synced() || feeds[1].Synced() {
				t.Errorf("per-source sync = %v, %v; want true, false", feeds[0].Synced(), feeds[1].Synced())
			}
			tt.second(feeds[1])
			select {
			case <-w.Ready():
			default:
				t.Fatal("not ready once both sources listed")
			}
			if w.Table().Lookup("", "/svc") == nil {
				t.Error("the first source's route is missing")
			}
		})
	}
}

// TestKickGoesToItsSource: a kick for a service re-lists it at the source
// that reported it, not at the other.
func TestKickGoesToItsSource(t *testing.T) {
	w, feeds, _ := twoSources()
	publish(feeds[0], testClaim{service: "svc", prefix: "/svc"})
	publish(feeds[1], testClaim{service: "web", prefix: "/web"})
	w.Kick("web")
	if got := feeds[0].TakeKicks(); len(got) != 0 {
		t.Errorf("the first source was asked to re-list %v", got)
	}
	if got := feeds[1].TakeKicks(); !slices.Equal(got, []string{"web-id"}) {
		t.Errorf("the second source was asked to re-list %v, want [web-id]", got)
	}
}

// TestConcurrentPublishes: two sources publish at once (run with -race);
// the last table has both.
func TestConcurrentPublishes(t *testing.T) {
	w, feeds, _ := twoSources()
	var wg sync.WaitGroup
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 200 {
				publish(f, testClaim{service: []string{"svc", "web"}[i], prefix: []string{"/svc", "/web"}[i], upstreams: []string{"10.0.0.1:80"}[:n%2]})
				w.Table().Each(func(r *routing.Route) { _ = r.Sides[0].Meter })
			}
		}()
	}
	wg.Wait()
	if n := w.Table().Len(); n != 2 {
		t.Errorf("%d routes after both published, want 2", n)
	}
}
