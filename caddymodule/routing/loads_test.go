package routing

import (
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// TestLoadsAttach checks that the sides of a scaled service share one
// load counter, kept across tables while the service is scaled, and that
// a side without scaling labels gets none.
func TestLoadsAttach(t *testing.T) {
	spec := &scaling.Spec{Min: 1, Max: 3, Target: 10}
	table := func(scaled bool) *Table {
		t := NewTable()
		s := Side{Service: "fn", ServiceID: "id1", Upstreams: []string{"10.0.0.1:80"}}
		if scaled {
			s.Scaling = spec
		}
		t.Add(NewRoute("", "/fn", s))
		s.Name = "admin"
		t.Add(NewRoute("", "/fn-admin", s))
		t.Add(NewRoute("", "/plain", Side{Service: "plain", ServiceID: "id2"}))
		return t
	}
	var loads Loads
	t1 := table(true)
	loads.Attach(t1)
	a, b := t1.Lookup("", "/fn").Pick(), t1.Lookup("", "/fn-admin").Pick()
	if a.Load == nil || a.Load != b.Load {
		t.Fatalf("the service's sides have loads %p and %p, want one", a.Load, b.Load)
	}
	if p := t1.Lookup("", "/plain").Pick(); p.Load != nil {
		t.Errorf("an unscaled side has a load counter")
	}
	a.Load.Start()
	t2 := table(true)
	loads.Attach(t2)
	if got := t2.Lookup("", "/fn").Pick().Load; got != a.Load {
		t.Errorf("the next table's counter is a new one")
	}
	if svcs := t2.ScaledServices(); len(svcs) != 1 || svcs[0].Key() != scaling.Key("", "id1") || svcs[0].Spec != *spec {
		t.Errorf("ScaledServices = %+v, want the one service", svcs)
	}
	loads.Attach(table(false))
	t4 := table(true)
	loads.Attach(t4)
	if got := t4.Lookup("", "/fn").Pick().Load; got == a.Load {
		t.Errorf("a counter was kept through a table where the service was not scaled")
	}
}
