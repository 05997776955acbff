package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/check"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

// claimsEngine is a fake swarm, on a network the test process is on, with
// two services on port:
//
//	web   claims app.test and *.wild.test (the whole hosts), replica 127.0.0.10
//	plain claims /plain on any host, replica 127.0.0.20
func claimsEngine(t *testing.T, port int) *fake.Engine {
	t.Helper()
	fe := fake.NewEngine(t)
	p := fmt.Sprint(port)
	fe.Networks = []network.Summary{fake.Network(fake.NetID, "test_net", "127.0.0.0/8")}
	fe.Services = []swarm.Service{
		fake.Service("web", fake.Enabled("faas.port", p, "faas.host", "app.test,*.wild.test")),
		fake.Service("plain", fake.Enabled("faas.port", p, "faas.path", "/plain")),
	}
	fe.Tasks = []swarm.Task{fake.Task("web", "127.0.0.10"), fake.Task("plain", "127.0.0.20")}
	return fe
}

// provisionModule provisions m as Caddy would and cleans it up when the
// test ends.
func provisionModule(t *testing.T, m interface {
	caddy.Provisioner
	caddy.CleanerUpper
},
) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(func() {
		if err := m.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		cancel()
	})
	if err := m.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// waitUntil polls cond every 5ms until it holds, failing the test after 5s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSwarmPermission(t *testing.T) {
	fe := claimsEngine(t, 8080)
	sp := &SwarmPermission{Discovery: Discovery{DockerHost: fe.Host()}}
	provisionModule(t, sp)
	allowed := func(name string) error { return sp.CertificateAllowed(context.Background(), name) }
	waitUntil(t, "app.test claimed", func() bool { return allowed("app.test") == nil })

	tests := []struct {
		name    string
		host    string
		allowed bool
		why     string // in the error
	}{
		{name: "claimed host", host: "app.test", allowed: true},
		{name: "claimed host in capitals", host: "APP.Test", allowed: true},
		{name: "claimed host with a trailing dot", host: "app.test.", allowed: true},
		{name: "under a claimed wildcard", host: "x.wild.test", allowed: true},
		{name: "the wildcard's own domain", host: "wild.test", allowed: false, why: "no routed swarm service claims"},
		{name: "two labels under a wildcard", host: "a.b.wild.test", allowed: false, why: "no routed swarm service claims"},
		{name: "the literal wildcard", host: "*.wild.test", allowed: false, why: "wildcard certificate"},
		{name: "unclaimed host", host: "other.test", allowed: false, why: "no routed swarm service claims"},
		{name: "a claimed host's parent", host: "test", allowed: false, why: "no routed swarm service claims"},
		{name: "a claimed host as a suffix", host: "evilapp.test", allowed: false, why: "no routed swarm service claims"},
		{name: "a claimed host as a prefix", host: "app.test.evil", allowed: false, why: "no routed swarm service claims"},
		{name: "host-less route's service name", host: "plain", allowed: false, why: "no routed swarm service claims"},
		{name: "IP address", host: "127.0.0.10", allowed: false, why: "no routed swarm service claims"},
		{name: "empty", host: "", allowed: false, why: "not a plain host name"},
		{name: "a claimed host with a port", host: "app.test:443", allowed: false, why: "not a plain host name"},
		{name: "a claimed host with an empty port", host: "app.test:", allowed: false, why: "not a plain host name"},
		{name: "a claimed host with words after a colon", host: "app.test:evil", allowed: false, why: "not a plain host name"},
		{name: "under a claimed wildcard, with a port", host: "x.wild.test:1", allowed: false, why: "not a plain host name"},
		{name: "a path as the first label under a wildcard", host: "a/b.wild.test", allowed: false, why: "not a plain host name"},
		{name: "a space under a wildcard", host: "a b.wild.test", allowed: false, why: "not a plain host name"},
		{name: "an empty label under a wildcard", host: ".wild.test", allowed: false, why: "not a plain host name"},
		{name: "a NUL under a wildcard", host: "a\x00.wild.test", allowed: false, why: "not a plain host name"},
		{name: "an IPv6 literal", host: "[::1]", allowed: false, why: "not a plain host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := allowed(tt.host)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("CertificateAllowed(%q) = %v, want nil", tt.host, err)
			case !tt.allowed && !errors.Is(err, caddytls.ErrPermissionDenied):
				t.Errorf("CertificateAllowed(%q) = %v, want caddytls.ErrPermissionDenied", tt.host, err)
			case !tt.allowed && !strings.Contains(err.Error(), tt.why):
				t.Errorf("CertificateAllowed(%q) = %v, want it to say why (%q)", tt.host, err, tt.why)
			}
		})
	}

	// The service stops claiming app.test: no certificate for it any more,
	// while the wildcard it still claims is allowed.
	fe.Update(func(fe *fake.Engine) { fe.Services[0].Spec.Labels["faas.host"] = "*.wild.test" })
	waitUntil(t, "app.test refused once its label is gone", func() bool {
		return errors.Is(allowed("app.test"), caddytls.ErrPermissionDenied)
	})
	if err := allowed("x.wild.test"); err != nil {
		t.Errorf("x.wild.test after the update: %v, want allowed", err)
	}
	// No longer routed at all: nothing is allowed.
	fe.Update(func(fe *fake.Engine) { delete(fe.Services[0].Spec.Labels, "faas.enable") })
	waitUntil(t, "x.wild.test refused once the service is not routed", func() bool {
		return errors.Is(allowed("x.wild.test"), caddytls.ErrPermissionDenied)
	})
}

func TestSwarmPermissionCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		global  string
		want    string // the permission's JSON
		wantErr string
	}{
		{name: "bare", global: "permission swarm", want: `{"module":"swarm"}`},
		{
			name:   "discovery options",
			global: "permission swarm {\n label_prefix gw\n poll_only\n}",
			want:   `{"label_prefix":"gw","module":"swarm","poll_only":true}`,
		},
		{name: "inline argument", global: "permission swarm app.test", wantErr: "wrong argument count"},
		{name: "unknown option", global: "permission swarm {\n hosts a\n}", wantErr: "unrecognized swarm option 'hosts'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := fmt.Sprintf("{\n on_demand_tls {\n %s\n }\n}\nhttps:// {\n tls {\n on_demand\n }\n}\n", tt.global)
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			var cfg struct {
				Apps struct {
					TLS struct {
						Automation struct {
							OnDemand struct {
								Permission json.RawMessage `json:"permission"`
							} `json:"on_demand"`
						} `json:"automation"`
					} `json:"tls"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if got := string(cfg.Apps.TLS.Automation.OnDemand.Permission); got != tt.want {
				t.Errorf("permission = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestHTTPSCaddyfile runs https/Caddyfile, the HTTPS stack's config, in
// this process against a fake swarm, with two changes: free ports instead
// of 80 and 443, and Caddy's internal CA as the issuer. A claimed host gets
// a certificate on its first handshake and its requests proxied, an
// unclaimed one gets no certificate; over plain HTTP, claimed hosts are
// redirected and the rest reach the host-less routes.
func TestHTTPSCaddyfile(t *testing.T) {
	port := startBackends(t, "127.0.0.10", "127.0.0.20")
	fe := claimsEngine(t, port)
	httpPort, httpsPort, storage := loadHTTPSCaddyfile(t, fe)
	httpGet := func(host, target string, header ...string) (*http.Response, backendReply) {
		t.Helper()
		return plainGet(t, httpPort, host, target, header...)
	}
	waitUntil(t, "app.test redirected over HTTP", func() bool {
		resp, _ := httpGet("app.test", "/")
		return resp.StatusCode == http.StatusPermanentRedirect
	})

	t.Run("HTTP", func(t *testing.T) {
		tests := []struct {
			name, host, target string
			header             []string
			wantCode           int
			wantLocation       string // for a redirect
			wantReplica        string // otherwise
		}{
			{name: "claimed host", host: "app.test", target: "/x/y?a=1", wantCode: 308, wantLocation: "https://app.test/x/y?a=1"},
			{name: "claimed host with port and capitals", host: "App.Test:8080", target: "/", wantCode: 308, wantLocation: "https://App.Test/"},
			{name: "under a claimed wildcard", host: "x.wild.test", target: "/plain", wantCode: 308, wantLocation: "https://x.wild.test/plain"},
			{name: "unclaimed host, host-less route", host: "other.test", target: "/plain/a", wantCode: 200, wantReplica: "127.0.0.20"},
			{name: "IP address, host-less route", host: "127.0.0.1", target: "/plain/a", wantCode: 200, wantReplica: "127.0.0.20"},
			{
				name: "X-Forwarded-Host is not the host", host: "other.test", target: "/plain",
				header: []string{"X-Forwarded-Host", "app.test"}, wantCode: 200, wantReplica: "127.0.0.20",
			},
			{name: "unclaimed host and path", host: "other.test", target: "/nothing", wantCode: 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, reply := httpGet(tt.host, tt.target, tt.header...)
				if resp.StatusCode != tt.wantCode {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
				}
				if loc := resp.Header.Get("Location"); loc != tt.wantLocation {
					t.Errorf("Location %q, want %q", loc, tt.wantLocation)
				}
				if reply.ID != tt.wantReplica {
					t.Errorf("answered by %q, want %q", reply.ID, tt.wantReplica)
				}
			})
		}
	})

	roots := x509.NewCertPool()
	rootPEM, err := os.ReadFile(filepath.Join(storage, "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("reading the internal CA's root: %v", err)
	}
	roots.AppendCertsFromPEM(rootPEM)
	dialTLS := func(name string) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: name, RootCAs: roots})
	}

	t.Run("HTTPS", func(t *testing.T) {
		tests := []struct {
			name   string
			host   string
			wantOK bool
		}{
			{name: "claimed host", host: "app.test", wantOK: true},
			{name: "claimed host in capitals", host: "APP.test", wantOK: true},
			{name: "under a claimed wildcard", host: "x.wild.test", wantOK: true},
			{name: "unclaimed host", host: "other.test", wantOK: false},
			{name: "the wildcard's own domain", host: "wild.test", wantOK: false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn, err := dialTLS(tt.host)
				if !tt.wantOK {
					if err == nil {
						conn.Close()
						t.Fatalf("handshake for %s succeeded, want no certificate", tt.host)
					}
					// The server ended the handshake (it had no certificate
					// to send); the client did not refuse one.
					if !strings.Contains(err.Error(), "remote error") {
						t.Errorf("handshake for %s: %v, want the server's alert", tt.host, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("handshake for %s: %v", tt.host, err)
				}
				conn.Close()
			})
		}

		// A request over HTTPS reaches the service that claims the host.
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", httpsPort))
			},
		}}
		resp, err := client.Get("https://app.test/hello")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reply backendReply
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != 200 || reply.ID != "127.0.0.10" || reply.Path != "/hello" {
			t.Errorf("GET https://app.test/hello = %d %+v %v, want 200 from web (127.0.0.10) with the path /hello", resp.StatusCode, reply, err)
		}
	})
}

// TestHTTPSCaddyfileBeforeFirstListing: over plain HTTP, a claimed host is
// never served in clear text, also while the gateway has not listed the
// swarm yet: a request waits for the first listing and gets its redirect,
// or a 503 with Retry-After if the listing does not come in time.
func TestHTTPSCaddyfileBeforeFirstListing(t *testing.T) {
	t.Run("a slow listing", func(t *testing.T) {
		port := startBackends(t, "127.0.0.10", "127.0.0.20")
		fe := claimsEngine(t, port)
		fe.Delay = 700 * time.Millisecond // each list call: the first listing takes more than that
		httpPort, _, _ := loadHTTPSCaddyfile(t, fe)
		resp, reply := plainGet(t, httpPort, "app.test", "/account")
		if resp.StatusCode != http.StatusPermanentRedirect || reply.ID != "" {
			t.Fatalf("GET http://app.test/account before the first listing = %d from %q, want the 308 to HTTPS", resp.StatusCode, reply.ID)
		}
		if resp, reply := plainGet(t, httpPort, "other.test", "/plain/a"); resp.StatusCode != http.StatusOK || reply.ID != "127.0.0.20" {
			t.Errorf("GET http://other.test/plain/a = %d from %q, want 200 from plain's replica", resp.StatusCode, reply.ID)
		}
	})
	t.Run("no listing in time", func(t *testing.T) {
		port := startBackends(t, "127.0.0.10", "127.0.0.20")
		fe := claimsEngine(t, port)
		fe.SetDown(true)
		httpPort, _, _ := loadHTTPSCaddyfile(t, fe)
		resp, reply := plainGet(t, httpPort, "app.test", "/account")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || reply.ID != "" {
			t.Fatalf("GET http://app.test/account with no listing = %d (Retry-After %q) from %q, want 503 with Retry-After",
				resp.StatusCode, resp.Header.Get("Retry-After"), reply.ID)
		}
		fe.SetDown(false)
		waitUntil(t, "app.test redirected once the swarm is listed", func() bool {
			resp, _ := plainGet(t, httpPort, "app.test", "/account")
			return resp.StatusCode == http.StatusPermanentRedirect
		})
	})
}

// loadHTTPSCaddyfile runs https/Caddyfile in this process against fe (see
// httpsTestConfig), and returns its HTTP and HTTPS ports and its storage.
func loadHTTPSCaddyfile(t *testing.T, fe *fake.Engine) (httpPort, httpsPort int, storage string) {
	t.Helper()
	// The Caddyfile names no Docker host: the modules read DOCKER_HOST.
	t.Setenv("DOCKER_HOST", fe.Host())
	httpPort, httpsPort = freePort(t), freePort(t)
	storage = t.TempDir()
	loadCaddy(t, httpsTestConfig(t, storage, httpPort, httpsPort))
	return httpPort, httpsPort, storage
}

// plainGet sends a GET for target with Host host to the HTTP port, and
// returns its response (its body read and closed) and the replica's reply,
// if a replica answered. It follows no redirect.
func plainGet(t *testing.T, httpPort int, host, target string, header ...string) (*http.Response, backendReply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, target), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, target, err)
	}
	defer resp.Body.Close()
	var reply backendReply
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &reply)
	return resp, reply
}

// plainClient is an HTTP client that follows no redirect.
var plainClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// httpsTestConfig adapts ../https/Caddyfile and changes, in its JSON, what
// a test in this process cannot have: the ports (free ones instead of 80
// and 443), the issuer (Caddy's internal CA instead of public ACME CAs, and
// not installed in the system's trust store), the storage (a directory of
// the test's own) and the admin endpoint (off).
func httpsTestConfig(t *testing.T, storage string, httpPort, httpsPort int) []byte {
	t.Helper()
	raw, err := os.ReadFile("../https/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "../https/Caddyfile"})
	if err != nil {
		t.Fatalf("adapting https/Caddyfile: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("adapting https/Caddyfile: warnings %v", warnings)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = map[string]any{"disabled": true, "config": map[string]any{"persist": false}}
	apps := jsonObject(t, cfg, "apps")
	httpApp := jsonObject(t, apps, "http")
	httpApp["http_port"], httpApp["https_port"] = httpPort, httpsPort
	listens := map[string]string{":80": fmt.Sprintf(":%d", httpPort), ":443": fmt.Sprintf(":%d", httpsPort)}
	for name := range jsonObject(t, httpApp, "servers") {
		srv := jsonObject(t, httpApp, "servers", name)
		for i, l := range srv["listen"].([]any) {
			if moved, ok := listens[l.(string)]; ok {
				srv["listen"].([]any)[i] = moved
			} else {
				t.Fatalf("server %s listens on %v, want :80 or :443", name, l)
			}
		}
	}
	policies, _ := jsonObject(t, apps, "tls", "automation")["policies"].([]any)
	if len(policies) == 0 {
		t.Fatalf("https/Caddyfile has no TLS automation policy:\n%s", out)
	}
	for _, p := range policies {
		p.(map[string]any)["issuers"] = []any{map[string]any{"module": "internal"}}
	}
	apps["pki"] = map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}}
	cfg["storage"] = map[string]any{"module": "file_system", "root": storage}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonObject walks keys down from m and returns the object there.
func jsonObject(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("config: no object at %q (in %v)", k, keys)
		}
		m = next
	}
	return m
}
