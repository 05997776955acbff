package caddymodule

import (
	"os"
	"testing"

	// The standard modules: the http app, reverse_proxy and the Caddyfile
	// adapter that the integration tests load configs with.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The lazy log encoder, which the shipped Caddyfiles set.
	_ "github.com/faas-gateway/faas-gateway/caddymodule/lazylog"
)

func TestMain(m *testing.M) {
	// Caddy writes its data and config under XDG dirs; keep tests out of $HOME.
	dir, err := os.MkdirTemp("", "caddymodule-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
