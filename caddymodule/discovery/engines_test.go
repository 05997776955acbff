package discovery

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// twoEngines is a watcher, not started, of engine blue (two sources) and
// engine green (one), logging to an observer, and the feeds of the
// sources: blue's two, then green's.
func twoEngines() (*Watcher, [3]*Feed, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	l := zap.New(core)
	w := NewEngines([]EngineSources{
		{Name: "blue", Sources: []Source{idle{}, idle{}}},
		{Name: "green", Sources: []Source{idle{}}},
	}, Options{Log: func() *zap.Logger { return l }})
	return w, [3]*Feed{{w: w, i: 0}, {w: w, i: 1}, {w: w, i: 2}}, logs
}

// TestEnginesMerge: two engines' claims on one prefix are settled as
// within one engine (the older wins), with one warning that names both
// services and both engines; every side is marked with its engine, and
// services of one name on both engines stay apart.
func TestEnginesMerge(t *testing.T) {
	w, feeds, logs := twoEngines()
	publish(feeds[0], testClaim{service: "web", prefix: "/web", created: time.Hour, upstreams: []string{"10.0.1.1:80"}},
		testClaim{service: "api", prefix: "/api", created: time.Hour})
	publish(feeds[1])
	publish(feeds[2], testClaim{service: "web", prefix: "/green-web", upstreams: []string{"192.0.2.7:30080"}},
		testClaim{service: "shop", prefix: "/api"})

	engineOf := make(map[string]string)
	w.Table().EachSide(func(r *routing.Route, s *routing.Side) { engineOf[r.Prefix] = s.Engine + "/" + s.Service })
	want := map[string]string{"/web": "blue/web", "/green-web": "green/web", "/api": "green/shop"}
	if len(engineOf) != len(want) {
		t.Errorf("routes %v, want %v", engineOf, want)
	}
	for p, e := range want {
		if engineOf[p] != e {
			t.Errorf("%s is routed to %q, want %q", p, engineOf[p], e)
		}
	}
	k := ProblemKey{Engine: "blue", Service: "api"}
	msg := w.Snapshot().Report.Problems[k].Message
	for _, sub := range []string{"engine blue: service not routed", "already claimed by older service shop of engine green"} {
		if !strings.Contains(msg, sub) {
			t.Errorf("lost claim's message %q lacks %q", msg, sub)
		}
	}
	if n := logs.FilterMessage(msg).FilterField(zap.String("engine", "blue")).Len(); n != 1 {
		t.Errorf("the lost claim was warned about %d times with its engine, want once", n)
	}
	svcs := w.Snapshot().Report.Services
	for _, key := range []string{"blue/web", "green/web", "blue/api", "green/shop"} {
		if _, ok := svcs[key]; !ok {
			t.Errorf("service %s missing from the report (%v)", key, slices.Collect(maps.Keys(svcs)))
		}
	}
	// A kick for green's web goes to green's source, not blue's.
	w.Kick(ServiceKey("green", "web"))
	if got := feeds[0].TakeKicks(); len(got) != 0 {
		t.Errorf("blue's source was asked to re-list %v", got)
	}
	if got := feeds[2].TakeKicks(); !slices.Equal(got, []string{"web-id"}) {
		t.Errorf("green's source was asked to re-list %v, want [web-id]", got)
	}
}

// TestEngineDownKeepsItsRoutes: an engine whose listings fail is down on
// its own counters only, keeps its last routes, and the other engine's
// changes are still published.
func TestEngineDownKeepsItsRoutes(t *testing.T) {
	w, feeds, logs := twoEngines()
	publish(feeds[0], testClaim{service: "web", prefix: "/web"})
	publish(feeds[1])
	publish(feeds[2], testClaim{service: "shop", prefix: "/shop"})
	feeds[2].Failed(errors.New("connection refused"))
	feeds[2].Failed(errors.New("connection refused"))
	publish(feeds[0], testClaim{service: "web", prefix: "/web"}, testClaim{service: "new", prefix: "/new"})
	for _, p := range []string{"/web", "/new", "/shop"} {
		if w.Table().Lookup("", p) == nil {
			t.Errorf("%s is not routed while green is down", p)
		}
	}
	es := w.Engines()
	if len(es) != 2 || es[0].Name != "blue" || es[1].Name != "green" {
		t.Fatalf("engines %+v", es)
	}
	if !es[0].Stats.APIUp() || !es[1].Stats.APIDown() {
		t.Errorf("blue up %v, green down %v; want both", es[0].Stats.APIUp(), es[1].Stats.APIDown())
	}
	if n := logs.FilterMessageSnippet("docker api unreachable").FilterField(zap.String("engine", "green")).Len(); n != 1 {
		t.Errorf("green's outage was warned about %d times, want once", n)
	}
	publish(feeds[2], testClaim{service: "shop", prefix: "/shop"})
	if !w.Engines()[1].Stats.APIUp() || logs.FilterMessage("docker api reachable again").FilterField(zap.String("engine", "green")).Len() != 1 {
		t.Error("green's return is not told, or not counted")
	}
}

// TestReadyWhenEveryEngineListed: the watcher is ready once every source
// of every engine has listed once; each engine tells its own.
func TestReadyWhenEveryEngineListed(t *testing.T) {
	w, feeds, _ := twoEngines()
	publish(feeds[0])
	publish(feeds[1])
	if w.Synced() {
		t.Fatal("ready before green listed")
	}
	if es := w.Engines(); !es[0].Synced || es[1].Synced {
		t.Errorf("synced: blue %v, green %v; want true, false", es[0].Synced, es[1].Synced)
	}
	publish(feeds[2])
	if !w.Synced() {
		t.Error("not ready once every engine listed")
	}
}

// TestOneEngineUnmarked: a watcher of one engine marks nothing with an
// engine: its routes, reports and logs are as they always were.
func TestOneEngineUnmarked(t *testing.T) {
	w, feeds, _ := twoSources()
	publish(feeds[0], testClaim{service: "web", prefix: "/web", created: time.Hour})
	publish(feeds[1], testClaim{service: "svc", prefix: "/web"})
	w.Table().EachSide(func(_ *routing.Route, s *routing.Side) {
		if s.Engine != "" {
			t.Errorf("side %s marked with engine %q", s.Service, s.Engine)
		}
	})
	if _, ok := w.Snapshot().Report.Problems[ProblemKey{Service: "web"}]; !ok {
		t.Errorf("the lost claim is not under its unmarked key: %v", w.Snapshot().Report.Problems)
	}
}
