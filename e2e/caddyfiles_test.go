package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestProxySettingsAgree keeps the contenders the gateway is measured
// against honest: the reference (testdata/reference.Caddyfile) and the
// bench's baseline (testdata/static.Caddyfile.tmpl) proxy with the same
// settings as the default Caddyfile, the one source of them; only where the
// upstreams come from differs. It needs no Docker.
func TestProxySettingsAgree(t *testing.T) {
	want, err := proxySettings("../Caddyfile", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("../Caddyfile: its reverse_proxy has no settings to compare")
	}
	for _, file := range []string{"testdata/reference.Caddyfile", "testdata/static.Caddyfile.tmpl", "../https/Caddyfile"} {
		got, err := proxySettings(file, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: reverse_proxy settings\n  %s\nwant the default Caddyfile's\n  %s",
				file, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// TestPoliciesKeepRetries checks that each policy the default Caddyfile
// ships with its own reverse_proxy retries and dials as the default route
// does: a policy changes how a service is proxied, not how the gateway
// rides through scaling and rolling updates.
func TestPoliciesKeepRetries(t *testing.T) {
	def, err := proxySettings("../Caddyfile", "")
	if err != nil {
		t.Fatal(err)
	}
	var shared []string
	for _, s := range def {
		for _, p := range []string{"lb_try_duration ", "lb_try_interval ", "fail_duration ", "transport http > dial_timeout "} {
			if strings.HasPrefix(s, p) {
				shared = append(shared, s)
			}
		}
	}
	if len(shared) != 4 {
		t.Fatalf("the default route's retry settings: %v, want 4", shared)
	}
	for _, policy := range []string{"sticky", "grpc", "stream"} {
		got, err := proxySettings("../Caddyfile", policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range shared {
			if !slices.Contains(got, s) {
				t.Errorf("policy %s: reverse_proxy lacks the default's %q; it has\n  %s", policy, s, strings.Join(got, "\n  "))
			}
		}
	}
}

// proxySettings returns the subdirectives of the first reverse_proxy of a
// Caddyfile's sites (or, if namedRoute is set, of that named route), with
// snippets imported, one a line with its arguments ("transport http >
// dial_timeout 1s" for a nested one), sorted, without where the upstreams
// come from: the directive's own arguments and its dynamic subdirective.
func proxySettings(file, namedRoute string) ([]string, error) {
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
		if sb.IsNamedRoute != (namedRoute != "") || (namedRoute != "" && sb.GetKeysText()[0] != namedRoute) {
			continue
		}
		for _, seg := range sb.Segments {
			tokens = append(tokens, seg...)
		}
	}
	i := slices.IndexFunc(tokens, func(tk caddyfile.Token) bool { return tk.Text == "reverse_proxy" })
	if i < 0 {
		return nil, fmt.Errorf("%s has no reverse_proxy (named route %q)", file, namedRoute)
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
