package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/check"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func TestPolicyNames(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		wantErr string
	}{
		{name: "none", names: nil},
		{name: "several", names: []string{"sticky", "grpc", "long-poll_2"}},
		{name: "upper case", names: []string{"Sticky"}, wantErr: `policy "Sticky": want a name`},
		{name: "braces", names: []string{"a}"}, wantErr: "want a name"},
		{name: "twice", names: []string{"a", "a"}, wantErr: `policy "a" is named twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := newPolicySet(tt.names)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			if len(ps.names) != len(tt.names) {
				t.Errorf("offers %v, want %v", ps.names, tt.names)
			}
		})
	}
}

// TestPolicyCaddyfile checks what the Caddyfile adapter makes of
// swarm_route's policies: the named routes it lists are attached to its
// server (as invoke's are), those it does not list are not, and a name no
// `&(name)` block defines fails the load.
func TestPolicyCaddyfile(t *testing.T) {
	const defs = `
	&(sticky) {
		reverse_proxy {
			dynamic swarm
			lb_policy cookie
		}
	}
	&(private) {
		basic_auth {
			admin $2a$14$abcdefghijklmnopqrstuv
		}
		invoke sticky
	}
	&(unused) {
		respond 204
	}
	`
	tests := []struct {
		name      string
		block     string
		wantNamed []string // the server's named routes, sorted
		wantErr   string
	}{
		{name: "no policies", block: "swarm_route", wantNamed: nil},
		{name: "listed policies are attached, with what they invoke", block: "swarm_route {\n policies private\n}", wantNamed: []string{"private", "sticky"}},
		{name: "several", block: "swarm_route {\n policies sticky private\n}", wantNamed: []string{"private", "sticky"}},
		{name: "undefined", block: "swarm_route {\n policies sticky nope\n}", wantErr: "cannot invoke named route 'nope'"},
		{name: "no names", block: "swarm_route {\n policies\n}", wantErr: "wrong argument count"},
		{name: "twice", block: "swarm_route {\n policies sticky\n policies private\n}", wantErr: "already been specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := defs + ":8081 {\n" + tt.block + "\nreverse_proxy {\n dynamic swarm\n}\n}\n"
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							NamedRoutes map[string]json.RawMessage `json:"named_routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, srv := range cfg.Apps.HTTP.Servers {
				for n := range srv.NamedRoutes {
					got = append(got, n)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantNamed) {
				t.Errorf("named routes = %v, want %v\n%s", got, tt.wantNamed, out)
			}
		})
	}
}

// policyCaddyfile is the gateway of TestGatewayPolicies: tag adds a
// response header and hands on to the default reverse_proxy, first
// proxies with its own settings, private asks for a password.
const policyCaddyfile = `{
	admin off
	persist_config off
	log {
		output file %[1]s
		format json
	}
}
&(tag) {
	header X-Policy tag
}
&(first) {
	reverse_proxy {
		dynamic swarm {
			docker_host %[2]s
		}
		lb_policy first
	}
}
&(private) {
	basic_auth {
		admin %[3]s
	}
}
:%[4]d {
	swarm_route {
		docker_host %[2]s
		policies %[5]s
	}
	reverse_proxy {
		dynamic swarm {
			docker_host %[2]s
		}
		lb_policy round_robin
	}
}`

// TestGatewayPolicies runs a gateway whose services choose policies by
// label: each gets its policy, with the request prepared as for any
// route; a route without one gets the default handling; a route whose
// policy is not offered answers 503 (not another service's handling) with
// one warning, also when a reload stops offering a policy in use.
func TestGatewayPolicies(t *testing.T) {
	port := startBackends(t, "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.20", "127.0.0.21", "127.0.0.40", "127.0.0.41", "127.0.0.42", "127.0.0.50")
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	p := fmt.Sprint(port)
	fe.Services = []swarm.Service{
		fake.Service("plain", fake.Enabled("faas.port", p), fake.ServiceReplicas(3)),
		fake.Service("tagged", fake.Enabled("faas.port", p, "faas.policy", "tag")),
		fake.Service("first", fake.Enabled("faas.port", p, "faas.policy", "first"), fake.ServiceReplicas(3)),
		fake.Service("private", fake.Enabled("faas.port", p, "faas.policy", "private")),
		fake.Service("lost", fake.Enabled("faas.port", p, "faas.path", "/plain/lost", "faas.policy", "nope")),
	}
	for svc, addrs := range map[string][]string{
		"plain": {"127.0.0.10", "127.0.0.11", "127.0.0.12"}, "tagged": {"127.0.0.20"}, "private": {"127.0.0.21"},
		"first": {"127.0.0.40", "127.0.0.41", "127.0.0.42"}, "lost": {"127.0.0.50"},
	} {
		for _, a := range addrs {
			fe.Tasks = append(fe.Tasks, fake.Task(svc, a))
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	listen := freePort(t)
	config := func(policies string) []byte {
		return adaptCaddyfile(t, fmt.Sprintf(policyCaddyfile, logFile, fe.Host(), hash, listen, policies))
	}
	loadCaddy(t, config("tag first private"))
	gf := &gatewayFixture{fe: fe, base: fmt.Sprintf("http://127.0.0.1:%d", listen)}
	gf.waitFor(t, "/plain/", http.StatusOK)

	get := func(path, user string) (int, http.Header, backendReply) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, gf.base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var br backendReply
		_ = json.NewDecoder(resp.Body).Decode(&br)
		return resp.StatusCode, resp.Header, br
	}
	warnings := func() int {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), "its policy is not offered")
	}

	t.Run("no policy: the default handling", func(t *testing.T) {
		seen := map[string]bool{}
		for range 6 {
			code, h, br := get("/plain/x", "")
			if code != http.StatusOK || h.Get("X-Policy") != "" || br.Path != "/x" {
				t.Fatalf("GET /plain/x = %d %q %+v, want 200 from plain, untagged, path /x", code, h.Get("X-Policy"), br)
			}
			seen[br.ID] = true
		}
		if len(seen) != 3 {
			t.Errorf("round_robin reached %v, want the 3 replicas", seen)
		}
	})
	t.Run("a policy that hands on to what follows swarm_route", func(t *testing.T) {
		code, h, br := get("/tagged/a/b", "")
		if code != http.StatusOK || h.Get("X-Policy") != "tag" || br.ID != "127.0.0.20" || br.Path != "/a/b" || br.Prefix != "/tagged" {
			t.Errorf("GET /tagged/a/b = %d %q %+v, want 200 tagged, from tagged's replica, path /a/b, prefix /tagged", code, h.Get("X-Policy"), br)
		}
	})
	t.Run("a policy's own reverse_proxy gets the route's replicas", func(t *testing.T) {
		for range 5 {
			code, _, br := get("/first/y", "")
			if code != http.StatusOK || br.ID != "127.0.0.40" || br.Path != "/y" {
				t.Fatalf("GET /first/y = %d %+v, want 200 from the first replica 127.0.0.40 (lb_policy first), path /y", code, br)
			}
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		if code, _, _ := get("/private/", ""); code != http.StatusUnauthorized {
			t.Errorf("without credentials: %d, want 401", code)
		}
		if code, _, br := get("/private/", "admin"); code != http.StatusOK || br.ID != "127.0.0.21" {
			t.Errorf("with credentials: %d %+v, want 200 from private's replica", code, br)
		}
	})
	t.Run("a policy not offered disables its route only, with one warning", func(t *testing.T) {
		for range 5 {
			if code, _, br := get("/plain/lost/z", ""); code != http.StatusServiceUnavailable || br.ID != "" {
				t.Fatalf("GET /plain/lost/z = %d from %q, want 503 from the gateway", code, br.ID)
			}
		}
		if n := warnings(); n != 1 {
			t.Errorf("%d warnings, want 1", n)
		}
		if code, _, br := get("/plain/q", ""); code != http.StatusOK || br.Path != "/q" {
			t.Errorf("GET /plain/q = %d %+v, want plain's handling", code, br)
		}
	})
	t.Run("a reload that drops a policy in use disables its routes", func(t *testing.T) {
		if err := caddy.Load(config("first private"), true); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, _, _ := get("/tagged/a", "")
			if code == http.StatusServiceUnavailable {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /tagged/a = %d after the reload, want 503", code)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for range 5 {
			get("/tagged/a", "")
			get("/plain/lost/z", "")
		}
		// One for tagged, one more for lost: the new config's swarm_route
		// warns afresh, once for each.
		if n := warnings(); n != 3 {
			t.Errorf("%d warnings in all, want 3 (lost before and after the reload, tagged after)", n)
		}
		if code, _, br := get("/first/y", ""); code != http.StatusOK || br.ID != "127.0.0.40" {
			t.Errorf("GET /first/y = %d %+v, want first's policy still applied", code, br)
		}
	})
}

// TestUpstreamsWithoutSwarmRoute: `dynamic swarm` alone (no swarm_route
// before it) cannot run a route's policy, so it must not serve that route
// as if it had none: the route gets no replicas (a 503) and one warning,
// while the routes without a policy are served as before.
func TestUpstreamsWithoutSwarmRoute(t *testing.T) {
	port := startBackends(t, "127.0.0.10", "127.0.0.21")
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	p := fmt.Sprint(port)
	fe.Services = []swarm.Service{
		fake.Service("plain", fake.Enabled("faas.port", p)),
		fake.Service("private", fake.Enabled("faas.port", p, "faas.policy", "private")),
	}
	fe.Tasks = []swarm.Task{fake.Task("plain", "127.0.0.10"), fake.Task("private", "127.0.0.21")}
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	listen := freePort(t)
	loadCaddy(t, []byte(fmt.Sprintf(`{
		"admin": {"disabled": true, "config": {"persist": false}},
		"logging": {"logs": {"default": {"writer": {"output": "file", "filename": %q}}}},
		"apps": {"http": {"servers": {"gw": {
			"listen": [":%d"],
			"routes": [{"handle": [
				{"handler": "reverse_proxy", "dynamic_upstreams": {"source": "swarm", "docker_host": %q}}
			]}]
		}}}}
	}`, logFile, listen, fe.Host())))
	gf := &gatewayFixture{fe: fe, base: fmt.Sprintf("http://127.0.0.1:%d", listen)}
	gf.waitFor(t, "/plain/x", http.StatusOK)

	for range 5 {
		if code, body := gf.get(t, "/private/secret"); code != http.StatusServiceUnavailable || strings.Contains(body, "127.0.0.21") {
			t.Fatalf("GET /private/secret = %d %q, want 503, never the replica's answer", code, body)
		}
	}
	b, _ := os.ReadFile(logFile)
	if n := strings.Count(string(b), "policies run only under swarm_route"); n != 1 {
		t.Errorf("%d warnings about the policy, want 1; log:\n%s", n, b)
	}
	if code, body := gf.get(t, "/plain/x"); code != http.StatusOK || !strings.Contains(body, "127.0.0.10") {
		t.Errorf("GET /plain/x = %d %q, want 200 from plain's replica", code, body)
	}
}
