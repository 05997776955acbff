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
	want, err := proxySettings("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("../Caddyfile: its reverse_proxy has no settings to compare")
	}
	for _, file := range []string{"testdata/reference.Caddyfile", "testdata/static.Caddyfile.tmpl", "../https/Caddyfile"} {
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

// proxySettings returns the subdirectives of the first reverse_proxy in a
// Caddyfile, one a line with its arguments ("transport http > dial_timeout
// 1s" for a nested one), without where the upstreams come from: the
// directive's own arguments and its dynamic subdirective.
func proxySettings(file string) ([]string, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	tokens, err := caddyfile.Tokenize(body, file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	i := slices.IndexFunc(tokens, func(tk caddyfile.Token) bool { return tk.Text == "reverse_proxy" })
	if i < 0 {
		return nil, fmt.Errorf("%s has no reverse_proxy", file)
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
