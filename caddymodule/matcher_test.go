package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/faas-gateway/faas-gateway/internal/check"
	"github.com/faas-gateway/faas-gateway/internal/fake"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func TestMatchSwarmHost(t *testing.T) {
	fe := claimsEngine(t, 8080)
	m := &MatchSwarmHost{Discovery: Discovery{DockerHost: fe.Host()}}
	provisionModule(t, m)
	matches := func(host string, header ...string) bool {
		r := httptest.NewRequest("GET", "/plain", nil)
		r.Host = host
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		ok, err := m.MatchWithError(r)
		if err != nil {
			t.Fatalf("MatchWithError: %v", err)
		}
		if ok != m.Match(r) {
			t.Fatalf("Match and MatchWithError disagree on %q", host)
		}
		return ok
	}
	waitUntil(t, "app.test claimed", func() bool { return matches("app.test") })

	tests := []struct {
		name   string
		host   string
		header []string
		want   bool
	}{
		{name: "claimed host", host: "app.test", want: true},
		{name: "with a port", host: "app.test:8080", want: true},
		{name: "with an empty port", host: "app.test:", want: true},
		{name: "with words for a port", host: "app.test:evil", want: false},
		{name: "under a claimed wildcard, with words for a port", host: "x.wild.test:x1", want: false},
		{name: "in capitals, with a trailing dot", host: "APP.TEST.", want: true},
		{name: "under a claimed wildcard", host: "x.wild.test:80", want: true},
		{name: "two labels under a wildcard", host: "a.b.wild.test", want: false},
		{name: "unclaimed host", host: "other.test", want: false},
		{name: "IP address", host: "127.0.0.1:80", want: false},
		{name: "IPv6 address", host: "[::1]:80", want: false},
		{name: "no host", host: "", want: false},
		{name: "only X-Forwarded-Host claimed", host: "other.test", header: []string{"X-Forwarded-Host", "app.test"}, want: false},
		{name: "a path served host-less", host: "plain", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matches(tt.host, tt.header...); got != tt.want {
				t.Errorf("Host %q: match = %v, want %v", tt.host, got, tt.want)
			}
		})
	}

	fe.Update(func(fe *fake.Engine) { delete(fe.Services[0].Spec.Labels, "faas.host") })
	waitUntil(t, "app.test no longer matched once its label is gone", func() bool { return !matches("app.test") })
}

func TestMatchSwarmHostCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		matcher string
		want    string // the matcher set's JSON
		wantErr string
	}{
		{name: "bare", matcher: "@c swarm_host", want: `{"swarm_host":{}}`},
		{name: "discovery options", matcher: "@c swarm_host {\n label_prefix gw\n }", want: `{"swarm_host":{"label_prefix":"gw"}}`},
		{name: "in a block, with another matcher", matcher: "@c {\n swarm_host\n path /a\n }", want: `{"path":["/a"],"swarm_host":{}}`},
		{name: "ready_timeout", matcher: "@c swarm_host {\n ready_timeout 2s\n }", want: `{"swarm_host":{"ready_timeout":2000000000}}`},
		{name: "inline argument", matcher: "@c swarm_host app.test", wantErr: "wrong argument count"},
		{name: "twice in one set", matcher: "@c {\n swarm_host\n swarm_host\n }", wantErr: "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := fmt.Sprintf("http:// {\n %s\n redir @c https://{host}{uri} 308\n}\n", tt.matcher)
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
			if check.Err(t, err, tt.wantErr) {
				return
			}
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Routes []struct {
								Match []json.RawMessage `json:"match"`
							} `json:"routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			routes := cfg.Apps.HTTP.Servers["srv0"].Routes
			if len(routes) != 1 || len(routes[0].Match) != 1 {
				t.Fatalf("want one route with one matcher set:\n%s", out)
			}
			if got := string(routes[0].Match[0]); got != tt.want {
				t.Errorf("matcher set = %s, want %s", got, tt.want)
			}
		})
	}
}
