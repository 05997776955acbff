package discovery

// This file merges the tables of a watcher's sources into the one it
// publishes: their claims settled as one source settles its own, the
// oldest first.

import (
	"cmp"
	"maps"
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
// in the report, which the watcher logs once. w.mu is held.
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
		for name, st := range snap.Report.Services {
			st.source = i
			rep.Services[name] = st
		}
		maps.Copy(rep.Problems, snap.Report.Problems)
		snap.Table.Each(func(r *routing.Route) {
			claims = append(claims, claim{r: r, source: i, created: snap.Report.Services[r.Sides[0].Service].Created})
		})
	}
	slices.SortStableFunc(claims, func(a, b claim) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.source, b.source))
	})
	t := routing.NewTable()
	for _, c := range claims {
		for _, s := range c.r.Sides {
			side := s
			side.Key, side.Meter = "", nil
			if msg := Claim(t, c.r.Host, c.r.Prefix, side, c.r.Weighted); msg != "" {
				rep.Add(ProblemKey{Service: s.Service, Route: s.Name}, ReasonClaimed, NotRouted(s.Name)+msg)
			}
		}
	}
	return t, rep
}
