// Package faasgateway is the root of the faas-gateway module. Building Caddy
// with it (`xcaddy build --with github.com/faas-gateway/faas-gateway=.`)
// plugs in the gateway's modules from caddymodule (the `swarm` upstream
// source, the `swarm_route`, `swarm_ready` and `swarm_status` handlers,
// the `swarm_host` matcher, the `swarm` TLS permission and the routes
// API), the `lazy` log encoder (caddymodule/lazylog), and the Docker API
// filter that docker-api runs (docker-api/).
package faasgateway

import (
	// Register the Caddy modules.
	_ "github.com/faas-gateway/faas-gateway/caddymodule"
	_ "github.com/faas-gateway/faas-gateway/caddymodule/lazylog"
	_ "github.com/faas-gateway/faas-gateway/docker-api"
)
