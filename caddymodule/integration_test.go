package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// backendReply is what each test backend answers: who it is and what it got.
type backendReply struct {
	ID, Path, Prefix, Host string
	URI                    string // the request target as received
}

// startBackends starts one HTTP server per loopback address, all on one
// port (as replicas of a swarm service share theirs), and returns the port.
func startBackends(t *testing.T, addrs ...string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, a := range addrs {
		l, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("listening on %s: %v", a, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(backendReply{ID: a, Path: r.URL.Path, Prefix: r.Header.Get("X-Forwarded-Prefix"), Host: r.Host, URI: r.RequestURI})
		})}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
	}
	return port
}

// loadCaddy runs a Caddy config in this process until the test ends.
func loadCaddy(t *testing.T, cfgJSON []byte) {
	t.Helper()
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v\n%s", err, cfgJSON)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
}

func adaptCaddyfile(t *testing.T, cf string) []byte {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, cf)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gatewayFixture is a fake swarm with three services, and a gateway in
// front of it:
//
//	multiply (3 replicas, stripped) on /multiply
//	echo (1 replica, not stripped) on /echo/v1
//	hidden (no opt-in label)
//	site (1 replica) on the whole host site.test
type gatewayFixture struct {
	fe   *fake.Engine
	base string // http://127.0.0.1:port
}

func newGatewayFixture(t *testing.T, useJSON bool) *gatewayFixture {
	port := startBackends(t, "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.20", "127.0.0.30", "127.0.0.31")
	fe := fake.NewEngine(t)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	p := fmt.Sprint(port)
	fe.Services = []swarm.Service{
		fake.Service("test_multiply", fake.Enabled("faas.port", p), fake.ServiceLabels(labels.StackNamespace, "test"), fake.ServiceReplicas(3)),
		fake.Service("echo", fake.Enabled("faas.port", p, "faas.path", "/echo/v1", "faas.strip_prefix", "false")),
		fake.Service("hidden", fake.ServiceLabels("faas.port", p)),
		fake.Service("site", fake.Enabled("faas.port", p, "faas.host", "site.test")),
	}
	for _, a := range []string{"127.0.0.10", "127.0.0.11", "127.0.0.12"} {
		fe.Tasks = append(fe.Tasks, fake.Task("test_multiply", a))
	}
	fe.Tasks = append(fe.Tasks, fake.Task("echo", "127.0.0.20"), fake.Task("hidden", "127.0.0.30"), fake.Task("site", "127.0.0.31"))

	gf := loadGateway(t, fe, useJSON)
	gf.waitFor(t, "/multiply/", http.StatusOK)
	return gf
}

// routeOption is an option of the gateway's swarm_route, as a Caddyfile
// line and as a JSON member.
type routeOption struct{ caddyfile, json string }

// sideCookie is swarm_route's side_cookie option.
func sideCookie(name string) routeOption {
	return routeOption{"side_cookie " + name, fmt.Sprintf(`"side_cookie": %q`, name)}
}

// loadGateway runs a gateway in front of fe, swarm_route (with opts) then
// reverse_proxy with dynamic swarm and round robin, from JSON or from a
// Caddyfile, and returns it without waiting for any route.
func loadGateway(t *testing.T, fe *fake.Engine, useJSON bool, opts ...routeOption) *gatewayFixture {
	t.Helper()
	listen := freePort(t)
	var cfLines, jsonMembers string
	for _, o := range opts {
		cfLines += "\n" + o.caddyfile
		jsonMembers += ", " + o.json
	}
	var cfg []byte
	if useJSON {
		cfg = []byte(fmt.Sprintf(`{
			"admin": {"disabled": true, "config": {"persist": false}},
			"apps": {"http": {"servers": {"gw": {
				"listen": [":%d"],
				"routes": [{"handle": [
					{"handler": "swarm_route", "docker_host": %q%s},
					{"handler": "reverse_proxy",
					 "dynamic_upstreams": {"source": "swarm", "docker_host": %q},
					 "load_balancing": {"selection_policy": {"policy": "round_robin"}}}
				]}]
			}}}}
		}`, listen, fe.Host(), jsonMembers, fe.Host()))
	} else {
		cfg = adaptCaddyfile(t, fmt.Sprintf(`{
			admin off
			persist_config off
		}
		:%d {
			swarm_route {
				docker_host %s%s
			}
			reverse_proxy {
				dynamic swarm {
					docker_host %s
				}
				lb_policy round_robin
			}
		}`, listen, fe.Host(), cfLines, fe.Host()))
	}
	loadCaddy(t, cfg)
	return &gatewayFixture{fe: fe, base: fmt.Sprintf("http://127.0.0.1:%d", listen)}
}

// get sends one request and returns its status and body.
func (gf *gatewayFixture) get(t *testing.T, rawPath string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, gf.base, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = rawPath // sent as written: no client-side cleaning
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawPath, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (gf *gatewayFixture) waitFor(t *testing.T, path string, code int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, body := gf.get(t, path)
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d within 5s", path, got, body, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGatewayRouting(t *testing.T) {
	for _, format := range []string{"caddyfile", "json"} {
		t.Run(format, func(t *testing.T) {
			gf := newGatewayFixture(t, format == "json")
			tests := []struct {
				name       string
				path       string
				header     []string
				wantCode   int
				wantID     string // backend that must answer ("" any multiply replica)
				wantPath   string
				wantPrefix string
				wantURI    string // the request target the replica gets, if set
			}{
				{name: "prefix stripped", path: "/multiply/api/v1/add?x=1&y=2", wantCode: 200, wantPath: "/api/v1/add", wantPrefix: "/multiply"},
				{name: "bare prefix", path: "/multiply", wantCode: 200, wantPath: "/", wantPrefix: "/multiply"},
				{name: "not stripped", path: "/echo/v1/ping", wantCode: 200, wantID: "127.0.0.20", wantPath: "/echo/v1/ping"},
				{name: "longest prefix on whole segments", path: "/echo/v12", wantCode: 404},
				{name: "unclaimed path", path: "/nothing/here", wantCode: 404},
				{name: "root", path: "/", wantCode: 404},
				{name: "segment boundary", path: "/multiplyx/add", wantCode: 404},
				{name: "case matters", path: "/Multiply/add", wantCode: 404},
				{name: "hidden service by its name", path: "/hidden/", wantCode: 404},
				{name: "dot-dot out of a prefix", path: "/multiply/../hidden", wantCode: 404},
				{name: "encoded dot-dot out of a prefix", path: "/multiply/%2e%2e/hidden", wantCode: 404},
				{name: "encoded dot-dot into another prefix", path: "/multiply/%2E%2E/echo/v1/x", wantCode: 200, wantID: "127.0.0.20", wantPath: "/echo/v1/x"},
				{name: "dot-dot cleaned before stripping", path: "/echo/../multiply/a/../b", wantCode: 200, wantPath: "/b", wantPrefix: "/multiply"},
				{name: "double slashes", path: "/multiply//x//y", wantCode: 200, wantPath: "/x/y", wantPrefix: "/multiply"},
				{name: "encoded slash is a separator", path: "/multiply%2fadd", wantCode: 200, wantPath: "/add", wantPrefix: "/multiply"},
				{name: "headers do not choose the service", path: "/multiply/x", header: []string{
					"Host", "echo", "X-Forwarded-Prefix", "/echo/v1", "X-Original-URL", "/echo/v1/x", "X-Rewrite-URL", "/echo/v1/x", "X-Forwarded-Host", "echo",
				}, wantCode: 200, wantPath: "/x", wantPrefix: "/multiply"},
				// Issue 9, defect 4: the gateway decides X-Forwarded-Prefix.
				{name: "client X-Forwarded-Prefix dropped when not stripping", path: "/echo/v1/x", header: []string{"X-Forwarded-Prefix", "/evil"},
					wantCode: 200, wantID: "127.0.0.20", wantPath: "/echo/v1/x", wantPrefix: ""},
				// Issue 9, defect 5: the replica gets exactly the matched path.
				{name: "encoded slash forwarded as matched, not stripped", path: "/echo%2Fv1/x", wantCode: 200, wantID: "127.0.0.20", wantPath: "/echo/v1/x", wantURI: "/echo/v1/x"},
				{name: "encoded letters forwarded decoded", path: "/echo/v1/%78", wantCode: 200, wantID: "127.0.0.20", wantPath: "/echo/v1/x", wantURI: "/echo/v1/x"},
				{name: "encoded slash forwarded as matched, stripped", path: "/multiply/a%2Fb", wantCode: 200, wantPath: "/a/b", wantPrefix: "/multiply", wantURI: "/a/b"},
				// Issue 10: Host header tricks.
				{name: "claimed host", path: "/x", header: []string{"Host", "site.test"}, wantCode: 200, wantID: "127.0.0.31", wantPath: "/x", wantPrefix: "/"},
				{name: "claimed host, other case and a port", path: "/x", header: []string{"Host", "SITE.Test:8443"}, wantCode: 200, wantID: "127.0.0.31", wantPath: "/x", wantPrefix: "/"},
				{name: "claimed host with a trailing dot", path: "/x", header: []string{"Host", "site.test."}, wantCode: 200, wantID: "127.0.0.31", wantPath: "/x", wantPrefix: "/"},
				{name: "a claimed host's routes before host-less ones", path: "/multiply/x", header: []string{"Host", "site.test"}, wantCode: 200, wantID: "127.0.0.31", wantPath: "/multiply/x", wantPrefix: "/"},
				{name: "X-Forwarded-Host does not choose the host", path: "/x", header: []string{"X-Forwarded-Host", "site.test"}, wantCode: 404},
				{name: "an unclaimed host never reaches a host route", path: "/x", header: []string{"Host", "other.test"}, wantCode: 404},
				{name: "a look-alike host is another host", path: "/x", header: []string{"Host", "site.test.evil.test"}, wantCode: 404},
				{name: "a subdomain is another host", path: "/x", header: []string{"Host", "a.site.test"}, wantCode: 404},
				{name: "an IP host gets host-less routes only", path: "/x", header: []string{"Host", "127.0.0.1"}, wantCode: 404},
				{name: "headers cannot reach a hidden service", path: "/nothing", header: []string{"Host", "hidden", "X-Original-URL", "/hidden"}, wantCode: 404},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, body := gf.get(t, tt.path, tt.header...)
					if code != tt.wantCode {
						t.Fatalf("GET %s = %d %q, want %d", tt.path, code, body, tt.wantCode)
					}
					if code == http.StatusNotFound {
						if !strings.Contains(body, "no service claims") {
							t.Errorf("404 body %q does not say that no service claims the path", body)
						}
						return
					}
					var got backendReply
					if err := json.Unmarshal([]byte(body), &got); err != nil {
						t.Fatalf("body %q: %v", body, err)
					}
					if tt.wantID != "" && got.ID != tt.wantID || tt.wantID == "" && !strings.HasPrefix(got.ID, "127.0.0.1") {
						t.Errorf("answered by %s, want %q (a multiply replica if empty)", got.ID, tt.wantID)
					}
					if got.Path != tt.wantPath || got.Prefix != tt.wantPrefix {
						t.Errorf("backend got path %q prefix %q, want %q %q", got.Path, got.Prefix, tt.wantPath, tt.wantPrefix)
					}
					if tt.wantURI != "" && got.URI != tt.wantURI {
						t.Errorf("backend got request target %q, want %q", got.URI, tt.wantURI)
					}
				})
			}

			t.Run("no Host header: host-less routes only", func(t *testing.T) {
				for path, want := range map[string]string{"/multiply/x": "200", "/x": "404"} {
					conn, err := net.Dial("tcp", strings.TrimPrefix(gf.base, "http://"))
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(conn, "GET %s HTTP/1.0\r\n\r\n", path)
					status, _ := bufio.NewReader(conn).ReadString('\n')
					conn.Close()
					if !strings.Contains(status, " "+want+" ") {
						t.Errorf("HTTP/1.0 GET %s without Host: %q, want %s", path, status, want)
					}
				}
			})

			t.Run("every replica answers", func(t *testing.T) {
				seen := map[string]int{}
				for range 30 {
					_, body := gf.get(t, "/multiply/")
					var got backendReply
					_ = json.Unmarshal([]byte(body), &got)
					seen[got.ID]++
				}
				if len(seen) != 3 || seen["127.0.0.10"] != 10 {
					t.Errorf("round robin over 30 requests: %v, want 10 each on 3 replicas", seen)
				}
			})
		})
	}
}

func TestGatewayFollowsScaling(t *testing.T) {
	gf := newGatewayFixture(t, false)
	// Scale multiply down to one replica: the others stop getting requests.
	gf.fe.Update(func(fe *fake.Engine) {
		fe.Tasks[1].DesiredState = swarm.TaskStateShutdown
		fe.Tasks[2].DesiredState = swarm.TaskStateShutdown
		*fe.Services[0].Spec.Mode.Replicated.Replicas = 1
	})
	deadline := time.Now().Add(2 * time.Second)
	for {
		seen := map[string]bool{}
		for range 12 {
			_, body := gf.get(t, "/multiply/")
			var got backendReply
			_ = json.Unmarshal([]byte(body), &got)
			seen[got.ID] = true
		}
		if len(seen) == 1 && seen["127.0.0.10"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after scaling to 1, replicas answering: %v", seen)
		}
	}
	// Remove the opt-in label: the prefix is no longer claimed.
	gf.fe.Update(func(fe *fake.Engine) { delete(fe.Services[0].Spec.Labels, "faas.enable") })
	gf.waitFor(t, "/multiply/", http.StatusNotFound)
}
