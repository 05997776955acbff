package discovery

// This file merges the tables of a watcher's sources into the one it
// publishes: their claims settled as one source settles its own, the
// oldest first.

import (
	"cmp"
	"slices"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// merge returns the table and report of every source's last publish
// merged. The sources' routes are copied into a new table (theirs are
// never published, so their sides stay free of meters), their claims
// made oldest first, by the creation time their reports give: of two
// claims on one host and prefix, the older wins as within one source (a
// weighted route is shared by the weighted claims), and the loser is told
// in the report, which the watcher logs once. With several engines, each
// side and problem is marked with its engine, and a lost claim's message
// names both engines. w.mu is held.
func (w *Watcher) merge() (*routing.Table, Report) {
	type claim struct {
		r       *routing.Route
		source  int
		created time.Time
	}
	var claims []claim
	rep := NewReport()
	for i := range w.parts {
		snap := w.parts[i].snap.Load()
		engine := w.engineName(i)
		for name, st := range snap.Report.Services {
			st.source = i
			rep.Services[ServiceKey(engine, name)] = st
		}
		for k, p := range snap.Report.Problems {
			k.Engine = engine
			rep.Problems[k] = p
		}
		snap.Table.Each(func(r *routing.Route) {
			claims = append(claims, claim{r: r, source: i, created: snap.Report.Services[r.Sides[0].Service].Created})
		})
	}
	slices.SortStableFunc(claims, func(a, b claim) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.source, b.source))
	})
	t := routing.NewTable()
	for _, c := range claims {
		engine := w.engineName(c.source)
		for _, s := range c.r.Sides {
			side := s
			side.Key, side.Meter, side.Load, side.Engine = "", nil, nil, engine
			if msg := Claim(t, c.r.Host, c.r.Prefix, side, c.r.Weighted); msg != "" {
				rep.Add(ProblemKey{Engine: engine, Service: s.Service, Route: s.Name}, ReasonClaimed, onEngine(engine)+NotRouted(s.Name)+msg)
			}
		}
	}
	return t, rep
}

// engineName is the name of the engine of the source of index i, with
// several engines; "" with one, whose sides and problems need none. w.mu
// is held.
func (w *Watcher) engineName(i int) string {
	if len(w.engines) == 1 {
		return ""
	}
	return w.engineOf(i).name
}

// ServiceKey is the key of a service in a merged report's Services: its
// name, and with several engines its engine's name before it
// ("green/web"), so that two engines' services of one name stay apart.
func ServiceKey(engine, service string) string {
	if engine == "" {
		return service
	}
	return engine + "/" + service
}
