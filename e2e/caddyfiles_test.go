package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestProxySettingsAgree keeps the contenders the gateway is measured
// against honest: the reference (testdata/reference.Caddyfile) and the
// bench's baseline (testdata/static.Caddyfile.tmpl) proxy with the same
// settings as the default Caddyfile (from gateway.caddy, the one source of
// them, which https/Caddyfile imports too); only where the upstreams come
// from differs. It needs no Docker.
func TestProxySettingsAgree(t *testing.T) {
	unsetCaddyfileEnv(t)
	want, err := proxySettings("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("../Caddyfile: its reverse_proxy has no settings to compare")
	}
	for _, file := range []string{"testdata/reference.Caddyfile", "testdata/static.Caddyfile.tmpl", "testdata/engines.Caddyfile", "../https/Caddyfile"} {
		got, err := proxySettings(file)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: reverse_proxy settings\n  %s\nwant the default Caddyfile's\n  %s",
				file, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// TestPoliciesKeepRetries checks that each policy the gateway's
// Caddyfiles ship proxies with its own reverse_proxy that finds replicas,
// retries and dials as the default route does: a policy changes how a
// service is proxied, not how the gateway rides through scaling and rolling
// updates. It compares the adapted JSON, where an option a policy passes to
// swarm_proxy (which may replace one of its own) has taken effect.
func TestPoliciesKeepRetries(t *testing.T) {
	unsetCaddyfileEnv(t)
	// What every reverse_proxy must share with the default's.
	shared := [][]string{
		{"dynamic_upstreams"},
		{"load_balancing", "try_duration"},
		{"load_balancing", "try_interval"},
		{"health_checks"},
		{"transport", "dial_timeout"},
	}
	for _, file := range []string{"../Caddyfile", "../https/Caddyfile"} {
		out, err := adaptCaddyfile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []map[string]any `json:"handle"`
						} `json:"routes"`
						NamedRoutes map[string]struct {
							Handle []map[string]any `json:"handle"`
						} `json:"named_routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		for name, srv := range cfg.Apps.HTTP.Servers {
			var def map[string]any
			for _, r := range srv.Routes {
				if h := reverseProxy(r.Handle); h != nil {
					def = h
				}
			}
			if def == nil {
				t.Fatalf("%s, server %s: no default reverse_proxy", file, name)
			}
			for _, path := range shared {
				if jsonAt(def, path) == nil {
					t.Fatalf("%s, server %s: the default reverse_proxy has no %s", file, name, strings.Join(path, "."))
				}
			}
			for _, policy := range []string{"sticky", "grpc", "stream"} {
				h := reverseProxy(srv.NamedRoutes[policy].Handle)
				if h == nil {
					t.Errorf("%s, server %s: policy %s has no reverse_proxy", file, name, policy)
					continue
				}
				for _, path := range shared {
					if got, want := jsonAt(h, path), jsonAt(def, path); !reflect.DeepEqual(got, want) {
						t.Errorf("%s, server %s: policy %s's reverse_proxy has %s %v, the default's %v",
							file, name, policy, strings.Join(path, "."), got, want)
					}
				}
			}
		}
	}
}

// reverseProxy returns the first reverse_proxy handler of a route's.
func reverseProxy(handle []map[string]any) map[string]any {
	for _, h := range handle {
		if h["handler"] == "reverse_proxy" {
			return h
		}
	}
	return nil
}

// jsonAt returns the value at path in a JSON object, or nil.
func jsonAt(obj map[string]any, path []string) any {
	var v any = obj
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// proxySettings returns the subdirectives of the first reverse_proxy of a
// Caddyfile's sites, with snippets and files imported, one a line with its
// arguments ("transport http > dial_timeout 1s" for a nested one), sorted,
// without where the upstreams come from: the directive's own arguments and
// its dynamic subdirective.
func proxySettings(file string) ([]string, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	blocks, err := caddyfile.Parse(file, body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var tokens []caddyfile.Token
	for _, sb := range blocks {
		if sb.IsNamedRoute {
			continue
		}
		for _, seg := range sb.Segments {
			tokens = append(tokens, seg...)
		}
	}
	i := slices.IndexFunc(tokens, func(tk caddyfile.Token) bool { return tk.Text == "reverse_proxy" })
	if i < 0 {
		return nil, fmt.Errorf("%s has no reverse_proxy in its sites", file)
	}
	d := caddyfile.NewDispenser(tokens[i:])
	d.Next()
	d.RemainingArgs() // static upstreams
	var settings []string
	for _, s := range subdirectives(d, "") {
		if !strings.HasPrefix(s, "dynamic ") {
			settings = append(settings, s)
		}
	}
	slices.Sort(settings)
	return settings, nil
}

// subdirectives flattens the block the dispenser is at, each line prefixed
// with the path of the blocks it is in.
func subdirectives(d *caddyfile.Dispenser, path string) []string {
	var lines []string
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		line := path + strings.Join(append([]string{d.Val()}, d.RemainingArgs()...), " ")
		lines = append(lines, line)
		lines = append(lines, subdirectives(d, line+" > ")...)
	}
	return lines
}
