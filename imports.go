// Package faasgateway is the root of the faas-gateway module. Building Caddy
// with it (`xcaddy build --with github.com/faas-gateway/faas-gateway=.`)
// plugs in the swarm upstream source and route handler from caddymodule,
// and the Docker API filter that docker-api runs (docker-api/).
package faasgateway

import (
	// Register the Caddy modules.
	_ "github.com/faas-gateway/faas-gateway/caddymodule"
	_ "github.com/faas-gateway/faas-gateway/docker-api"
)
