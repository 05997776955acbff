package labels

import (
	"reflect"
	"strings"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
	"github.com/faas-gateway/faas-gateway/internal/check"
)

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		svc     string
		want    Config
		wantErr string
	}{
		{
			name:   "no labels: not exposed",
			labels: map[string]string{},
			svc:    "web",
			want:   Config{LB: LBTasks},
		},
		{
			name:   "enable false: not exposed",
			labels: map[string]string{"faas.enable": "false", "faas.port": "nope"},
			svc:    "web",
			want:   Config{LB: LBTasks},
		},
		{
			name:   "defaults: prefix is the name without the stack namespace",
			labels: map[string]string{"faas.enable": "true", StackNamespace: "faas"},
			svc:    "faas_multiply",
			want:   Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: "/multiply", Port: 80, Strip: true}}},
		},
		{
			name:   "no namespace: prefix is the whole name",
			labels: map[string]string{"faas.enable": "TRUE"},
			svc:    "faas_multiply",
			want:   Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: "/faas_multiply", Port: 80, Strip: true}}},
		},
		{
			name: "every label",
			labels: map[string]string{
				"faas.enable": "1", "faas.path": "/api/v2", "faas.port": "8080",
				"faas.strip_prefix": "false", "faas.network": "backend", "faas.lb": "VIP",
			},
			svc:  "x",
			want: Config{Enabled: true, Network: "backend", LB: LBVIP, Routes: []RouteConfig{{Prefix: "/api/v2", Port: 8080}}},
		},
		{
			name:   "path normalised: space and trailing slashes",
			labels: map[string]string{"faas.enable": "true", "faas.path": "  /multiply//  "},
			svc:    "x",
			want:   Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: "/multiply", Port: 80, Strip: true}}},
		},
		{
			name:   "path dot segments resolved",
			labels: map[string]string{"faas.enable": "true", "faas.path": "/a/./b/../c"},
			svc:    "x",
			want:   Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: "/a/c", Port: 80, Strip: true}}},
		},
		{name: "bad enable", labels: map[string]string{"faas.enable": "yes please"}, svc: "x", wantErr: "faas.enable"},
		{name: "port not a number", labels: map[string]string{"faas.enable": "true", "faas.port": "http"}, svc: "x", wantErr: `label faas.port="http"`},
		{name: "port out of range", labels: map[string]string{"faas.enable": "true", "faas.port": "70000"}, svc: "x", wantErr: "faas.port"},
		{name: "port zero", labels: map[string]string{"faas.enable": "true", "faas.port": "0"}, svc: "x", wantErr: "faas.port"},
		{name: "path without leading slash", labels: map[string]string{"faas.enable": "true", "faas.path": "multiply"}, svc: "x", wantErr: "must start with /"},
		{name: "path percent-encoded", labels: map[string]string{"faas.enable": "true", "faas.path": "/multi%70ly"}, svc: "x", wantErr: "not allowed"},
		{name: "path unicode look-alike", labels: map[string]string{"faas.enable": "true", "faas.path": "/mu\u13deltiply"}, svc: "x", wantErr: "not allowed"},
		{name: "path with query", labels: map[string]string{"faas.enable": "true", "faas.path": "/a?b"}, svc: "x", wantErr: "not allowed"},
		// Issue 9, defect 10: a prefix deep or long enough to slow every request.
		{name: "path too deep", labels: map[string]string{"faas.enable": "true", "faas.path": strings.Repeat("/a", 17)}, svc: "x", wantErr: "at most 16 segments, this one has 17"},
		{name: "path deep at the limit", labels: map[string]string{"faas.enable": "true", "faas.path": strings.Repeat("/a", 16)}, svc: "x",
			want: Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: strings.Repeat("/a", 16), Port: 80, Strip: true}}}},
		{name: "path too long", labels: map[string]string{"faas.enable": "true", "faas.path": "/" + strings.Repeat("a", 300)}, svc: "x", wantErr: "at most 256 characters"},
		{name: "path of 10000 segments", labels: map[string]string{"faas.enable": "true", "faas.path": strings.Repeat("/a", 10000)}, svc: "x", wantErr: "faas.path"},
		{name: "bad strip", labels: map[string]string{"faas.enable": "true", "faas.strip_prefix": "maybe"}, svc: "x", wantErr: "faas.strip_prefix"},
		{name: "empty network", labels: map[string]string{"faas.enable": "true", "faas.network": " "}, svc: "x", wantErr: "faas.network"},
		{
			name:   "lb local",
			labels: map[string]string{"faas.enable": "true", "faas.lb": " Local"},
			svc:    "x",
			want:   Config{Enabled: true, LB: LBLocal, Routes: []RouteConfig{{Prefix: "/x", Port: 80, Strip: true}}},
		},
		{name: "bad lb", labels: map[string]string{"faas.enable": "true", "faas.lb": "dns"}, svc: "x", wantErr: "faas.lb"},
		{name: "policy", labels: map[string]string{"faas.enable": "true", "faas.policy": " sticky "}, svc: "x",
			want: Config{Enabled: true, LB: LBTasks, Routes: []RouteConfig{{Prefix: "/x", Port: 80, Strip: true, Policy: "sticky"}}}},
		{name: "empty policy", labels: map[string]string{"faas.enable": "true", "faas.policy": ""}, svc: "x", wantErr: "faas.policy"},
		{name: "policy not a name", labels: map[string]string{"faas.enable": "true", "faas.policy": "sticky }"}, svc: "x", wantErr: `label faas.policy="sticky }": want a policy name`},
		{name: "policy upper case", labels: map[string]string{"faas.enable": "true", "faas.policy": "Sticky"}, svc: "x", wantErr: "faas.policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.labels, "faas", tt.svc, LBTasks)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLabelsCustomPrefix(t *testing.T) {
	labels := map[string]string{"faas.enable": "true", "gw.enable": "true", "gw.path": "/other"}
	got, err := Parse(labels, "gw", "svc", LBTasks)
	if err != nil || !got.Enabled || got.Routes[0].Prefix != "/other" {
		t.Fatalf("got %+v, %v: want the gw.* labels to be read", got, err)
	}
}

func FuzzParseLabels(f *testing.F) {
	for _, seed := range []string{"/multiply", " /a// ", "/a/../b", "multiply", "/\u00e9", "/%2e", "", "/"} {
		f.Add(seed, "8080")
	}
	f.Fuzz(func(t *testing.T, pathLabel, port string) {
		cfg, err := Parse(map[string]string{"faas.enable": "true", "faas.path": pathLabel, "faas.port": port}, "faas", "svc", LBTasks)
		if err != nil {
			return
		}
		// An accepted prefix is canonical: cleaning it again changes nothing,
		// it starts with a slash and never ends with one (but "/").
		if len(cfg.Routes) != 1 {
			t.Fatalf("%d routes from service-level labels", len(cfg.Routes))
		}
		rc := cfg.Routes[0]
		if p := rc.Prefix; routing.CleanPath(p) != p || !strings.HasPrefix(p, "/") || (p != "/" && strings.HasSuffix(p, "/")) {
			t.Fatalf("prefix %q from %q is not canonical", p, pathLabel)
		}
		for i := 0; i < len(rc.Prefix); i++ {
			if !isPathChar(rc.Prefix[i]) {
				t.Fatalf("prefix %q has disallowed byte %q", rc.Prefix, rc.Prefix[i])
			}
		}
		if rc.Port < 1 {
			t.Fatalf("port %d accepted from %q", rc.Port, port)
		}
	})
}

func TestParseRoutes(t *testing.T) {
	on := func(kv ...string) map[string]string {
		m := map[string]string{"faas.enable": "true"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name         string
		labels       map[string]string
		want         []RouteConfig
		wantDisabled map[string]string // route -> error substring
		wantWarnings map[string]string // route ("" for the service) -> warning substring
		wantErr      string
	}{
		{name: "host alone claims the whole host", labels: on("faas.host", "API.example.com"),
			want: []RouteConfig{{Hosts: []string{"api.example.com"}, Prefix: "/", Port: 80, Strip: true}}},
		{name: "host and path", labels: on("faas.host", "api.example.com", "faas.path", "/v1"),
			want: []RouteConfig{{Hosts: []string{"api.example.com"}, Prefix: "/v1", Port: 80, Strip: true}}},
		{name: "several hosts, sorted, repeats dropped", labels: on("faas.host", "b.test, *.a.test,b.test"),
			want: []RouteConfig{{Hosts: []string{"*.a.test", "b.test"}, Prefix: "/", Port: 80, Strip: true}}},
		{name: "malformed service host disables the service", labels: on("faas.host", "my_app.test"), wantErr: `label faas.host="my_app.test"`},
		{
			name: "named routes, as in the README",
			labels: on("faas.port", "8080",
				"faas.routes.api.path", "/api",
				"faas.routes.admin.host", "admin.example.com", "faas.routes.admin.port", "9000"),
			want: []RouteConfig{
				{Name: "admin", Hosts: []string{"admin.example.com"}, Prefix: "/", Port: 9000, Strip: true},
				{Name: "api", Prefix: "/api", Port: 8080, Strip: true},
			},
		},
		{
			name:   "named routes take the service's host and path",
			labels: on("faas.host", "x.test", "faas.path", "/p", "faas.routes.a.strip_prefix", "false", "faas.routes.b.host", "y.test"),
			want: []RouteConfig{
				{Name: "a", Hosts: []string{"x.test"}, Prefix: "/p", Port: 80, Strip: false},
				{Name: "b", Hosts: []string{"y.test"}, Prefix: "/p", Port: 80, Strip: true},
			},
		},
		{
			name:   "a named route without host or path: the service name",
			labels: on("faas.routes.a.port", "81"),
			want:   []RouteConfig{{Name: "a", Prefix: "/svc", Port: 81, Strip: true}},
		},
		{
			name: "a malformed route disables that route only",
			labels: on("faas.routes.good.path", "/good",
				"faas.routes.bad.host", "https://x.test",
				"faas.routes.typo.hots", "x.test",
				"faas.routes.Caps.path", "/c"),
			want:         []RouteConfig{{Name: "good", Prefix: "/good", Port: 80, Strip: true}},
			wantDisabled: map[string]string{"bad": "no scheme", "typo": `unknown route field "hots"`, "Caps": "route name"},
		},
		{
			name: "named routes take the service's policy, or their own",
			labels: on("faas.policy", "sticky",
				"faas.routes.a.path", "/a",
				"faas.routes.b.path", "/b", "faas.routes.b.policy", "grpc",
				"faas.routes.c.path", "/c", "faas.routes.c.policy", "no/such"),
			want: []RouteConfig{
				{Name: "a", Prefix: "/a", Port: 80, Strip: true, Policy: "sticky"},
				{Name: "b", Prefix: "/b", Port: 80, Strip: true, Policy: "grpc"},
			},
			wantDisabled: map[string]string{"c": `label faas.routes.c.policy="no/such"`},
		},
		{name: "a weight", labels: on("faas.weight", " 90 "),
			want: []RouteConfig{{Prefix: "/svc", Port: 80, Strip: true, Weighted: true, Weight: 90}}},
		{name: "weight 0 and the largest", labels: on("faas.routes.a.weight", "0", "faas.routes.b.weight", "1000000"),
			want: []RouteConfig{
				{Name: "a", Prefix: "/svc", Port: 80, Strip: true, Weighted: true, Weight: 0},
				{Name: "b", Prefix: "/svc", Port: 80, Strip: true, Weighted: true, Weight: 1_000_000},
			}},
		{
			name: "named routes take the service's weight, or their own",
			labels: on("faas.weight", "5",
				"faas.routes.a.path", "/a",
				"faas.routes.b.path", "/b", "faas.routes.b.weight", "7"),
			want: []RouteConfig{
				{Name: "a", Prefix: "/a", Port: 80, Strip: true, Weighted: true, Weight: 5},
				{Name: "b", Prefix: "/b", Port: 80, Strip: true, Weighted: true, Weight: 7},
			},
		},
		{name: "a bad service weight: routed without a weight, with a warning", labels: on("faas.weight", "ten"),
			want:         []RouteConfig{{Prefix: "/svc", Port: 80, Strip: true}},
			wantWarnings: map[string]string{"": `label faas.weight="ten": want an integer from 0 to 1000000`}},
		{
			name: "bad route weights: those routes unweighted, the others keep theirs",
			labels: on("faas.weight", "5",
				"faas.routes.a.weight", "1000001",
				"faas.routes.b.weight", "-1",
				"faas.routes.c.weight", "2.5",
				"faas.routes.d.path", "/d"),
			want: []RouteConfig{
				{Name: "a", Prefix: "/svc", Port: 80, Strip: true},
				{Name: "b", Prefix: "/svc", Port: 80, Strip: true},
				{Name: "c", Prefix: "/svc", Port: 80, Strip: true},
				{Name: "d", Prefix: "/d", Port: 80, Strip: true, Weighted: true, Weight: 5},
			},
			wantWarnings: map[string]string{"a": `faas.routes.a.weight="1000001"`, "b": `faas.routes.b.weight="-1"`, "c": "without a weight"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.labels, "faas", "svc", LBTasks)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(got.Routes, tt.want) {
				t.Errorf("routes = %+v, want %+v", got.Routes, tt.want)
			}
			checkProblems(t, "disabled", got.Disabled, tt.wantDisabled)
			checkProblems(t, "warned", got.Warnings, tt.wantWarnings)
		})
	}
}

// checkProblems checks that got are exactly the routes of want, each with
// an error containing want's substring.
func checkProblems(t *testing.T, what string, got []RouteProblem, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	for _, d := range got {
		if w, ok := want[d.Route]; !ok || !strings.Contains(d.Err.Error(), w) {
			t.Errorf("route %q %s with %v, want an error containing %q", d.Route, what, d.Err, w)
		}
	}
}
