# faas-gateway: `make up` deploys the stack and prints the URL; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

STACK          ?= faas
PORT           ?= 8081
GATEWAY_IMAGE  ?= faas-gateway/gateway:latest
# The gateway built with profile-guided optimisation (pgo/default.pgo), for the bench's comparison
GATEWAY_PGO_IMAGE ?= $(GATEWAY_IMAGE)-pgo
MULTIPLY_IMAGE ?= faas-gateway/multiply:latest
TESTSVC_IMAGE  ?= faas-gateway/testsvc:latest
BAREPROXY_IMAGE ?= faas-gateway/bareproxy:latest
# Traefik for the bench (scripts/traefik-image.sh SRC_DIR builds it; about 15 minutes); empty: skipped
TRAEFIK_IMAGE  ?=
BUILDER_IMAGE  ?= faas-gateway/builder-base:local
RUNTIME_IMAGE  ?= faas-gateway/runtime-base:local
URL             = http://127.0.0.1:$(PORT)/multiply/api/v1/add?x=10&y=25
GO_TEST_FLAGS  ?= -count=1 -timeout 20m
# make up-compose's project and port (compose/docker-compose.yml)
COMPOSE_PROJECT ?= faas-compose
COMPOSE_PORT    ?= 8082
COMPOSE         = docker-compose -p $(COMPOSE_PROJECT) -f compose/docker-compose.yml
# make soak's length (SOAK_WARMUP and SOAK_INTERVAL, in the environment, cut its warm-up and cycle)
SOAK_DURATION  ?= 30m

# The stack files (and scripts/cluster.sh) read these; PORT is the one knob for the port.
export STACK GATEWAY_IMAGE GATEWAY_PGO_IMAGE MULTIPLY_IMAGE TESTSVC_IMAGE BAREPROXY_IMAGE TRAEFIK_IMAGE
export GATEWAY_PORT := $(PORT)

.PHONY: up up-https up-cluster up-compose down-compose certs down test test-cluster test-engines unit scenarios soak bench pgo images base-images gateway-image gateway-image-pgo multiply-image testsvc-image bareproxy-image swarm status logs clean

## up: build the images, make this node a swarm manager if needed, deploy, wait until the URL answers
up: images swarm
	docker stack deploy --resolve-image never -c stack.yml $(STACK)
	STACK=$(STACK) scripts/wait-url.sh '$(URL)'

## up-https: the HTTPS stack (https/stack.yml) on ports 80 and 443, multiply on SITE_HOST (its DNS must point here)
up-https: images swarm
	@if [[ -z "$${SITE_HOST:-}" ]]; then echo "up-https: set SITE_HOST, the host name to serve multiply on: make up-https SITE_HOST=api.example.com" >&2; exit 1; fi
	docker stack deploy --resolve-image never -c https/stack.yml $(STACK)
	@echo "deployed: https://$${SITE_HOST}/multiply/api/v1/add?x=10&y=25 (the certificate is obtained on the first request)"

## up-cluster: the many-node stack (stack.cluster.yml): gateways on every node, Docker API through mutual-TLS docker-api
up-cluster: images swarm certs
	docker stack deploy --resolve-image never -c stack.cluster.yml $(STACK)
	STACK=$(STACK) scripts/wait-url.sh '$(URL)'

## certs: CA, docker-api server certificate and gateway client certificate in build/certs (kept if present)
certs:
	scripts/certs.sh build/certs

## down: remove the stack and wait until its services and network are gone
down:
	scripts/stack-rm.sh $(STACK)

## up-compose: the gateway and 3 multiply containers with docker compose, swarm or not, on port 8082 (COMPOSE_PORT); prints the URL
up-compose: images
	COMPOSE_PORT=$(COMPOSE_PORT) $(COMPOSE) up -d
	COMPOSE_PROJECT=$(COMPOSE_PROJECT) scripts/wait-url.sh 'http://127.0.0.1:$(COMPOSE_PORT)/multiply/api/v1/add?x=10&y=25'

## down-compose: remove what make up-compose started
down-compose:
	$(COMPOSE) down --timeout 20

## test: unit tests under the race detector, then end-to-end tests on the real swarm (they deploy and remove their own stack)
test: images swarm
	go vet ./...
	rm -f build/scenarios.txt build/bench.txt build/scaling.txt build/scaling-load.txt
	go test -race $(GO_TEST_FLAGS) -short ./...
	CI=$${CI:-} go test $(GO_TEST_FLAGS) ./e2e
	@cat build/scenarios.txt build/scaling.txt build/scaling-load.txt build/bench.txt 2>/dev/null || true

## test-cluster: a real 3-node swarm on this machine (dockerd per network namespace), gateways on workers only
## (about 7 minutes), then test-engines (under a minute)
test-cluster: images certs
	scripts/cluster.sh run
	scripts/cluster.sh engines

## test-engines: two engines (a one-node swarm, a plain engine) behind docker-api, one gateway reading both,
## one engine's docker-api stopped under load (docs/engines.md#how-it-is-tested)
test-engines: images
	scripts/cluster.sh engines

## scenarios: the full load scenarios (scaling, rolling updates, Docker API outage, bad labels), gateway against reference;
## the gateway's own lifecycle: its upgrade on this node, and on the 3-node cluster behind a stand-in load balancer
scenarios: images swarm certs
	rm -f build/scenarios.txt build/lifecycle.txt build/cluster-lifecycle.txt
	SCENARIOS=full go test -count=1 -timeout 30m -v -run '^(TestScenarios|TestGatewayUpgradeSingleNode|TestScaleToZero)$$' ./e2e
	scripts/cluster.sh scenarios
	@cat build/scenarios.txt build/lifecycle.txt build/cluster-lifecycle.txt

## soak: 30 minutes (SOAK_DURATION) of swarm churn under 200 req/s on this node's swarm (stack soak), the gateway
## sampled every minute; prints the table and the verdict (heap, goroutines, descriptors, series, routes) to build/soak.txt
soak: images swarm certs
	rm -f build/soak.txt
	E2E_STACK=soak SOAK_DURATION=$(SOAK_DURATION) go test -count=1 -timeout 8h -v -run '^TestSoak$$' ./e2e
	@cat build/soak.txt

## unit: tests that need no Docker
unit:
	go test $(GO_TEST_FLAGS) -short ./...

## bench: Go benchmarks, then gateway (tuned, untuned, each lever), an A/A pair and Traefik (TRAEFIK_IMAGE, when built) against stock Caddy,
## each loaded inside its own network namespace: throughput, CPU per request, latency, fairness, memory (about 25 minutes)
bench: images gateway-image-pgo bareproxy-image swarm
	mkdir -p build
	go test -run '^$$' -bench . -benchmem -count 5 ./caddymodule | tee build/gobench.txt
	BENCH=full go test -count=1 -timeout 40m -v -run TestBench ./e2e
	@cat build/bench.txt

images: multiply-image testsvc-image gateway-image

multiply-image:
	$(call build-static,multiply,./multiply,$(MULTIPLY_IMAGE))

## testsvc-image: the end-to-end tests' gRPC / WebSocket / streaming service (cmd/testsvc)
testsvc-image:
	$(call build-static,testsvc,./cmd/testsvc,$(TESTSVC_IMAGE))

## bareproxy-image: the bench's ceiling, Go's httputil reverse proxy with fixed upstreams (cmd/bareproxy)
bareproxy-image:
	$(call build-static,bareproxy,./cmd/bareproxy,$(BAREPROXY_IMAGE))

# build-static(name, package, tag): a static binary into build/<name>, then
# the scratch image of the package's Dockerfile around it.
define build-static
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o build/$(1)/$(1) $(2)
	docker build -q -f $(2)/Dockerfile -t $(3) build/$(1)
endef

## gateway-image: xcaddy.Dockerfile on locally made base images (online: make gateway-image BUILDER_IMAGE=caddy:2-builder RUNTIME_IMAGE=caddy:2)
gateway-image: base-images
	$(call build-gateway,$(GATEWAY_IMAGE))

## gateway-image-pgo: the gateway built with profile-guided optimisation from pgo/default.pgo, for the bench's comparison
gateway-image-pgo: base-images
	$(call build-gateway,$(GATEWAY_PGO_IMAGE),--build-arg GO_PGO=/src/pgo/default.pgo)

## gateway-image-amd64v3: the gateway built for GOAMD64=v3 (AVX2, BMI2, FMA), a lever for the bench (BENCH_IMAGES)
gateway-image-amd64v3: base-images
	$(call build-gateway,$(GATEWAY_IMAGE)-amd64v3,--build-arg GOAMD64=v3)

# build-gateway(tag, extra docker build arguments)
define build-gateway
	@echo "building $(1) with xcaddy (the first build compiles Caddy: about 5 minutes on 2 cores)"
	docker build -f xcaddy.Dockerfile --build-arg BUILDER_IMAGE=$(BUILDER_IMAGE) --build-arg RUNTIME_IMAGE=$(RUNTIME_IMAGE) $(2) -t $(1) . \
		| grep --line-buffered -E '^(Step|Successfully)' || { echo "gateway image build failed; rerun without the filter: docker build -f xcaddy.Dockerfile ..." >&2; exit 1; }
endef

## pgo: profile the gateway under wrk load into pgo/default.pgo (about 1 minute; then make gateway-image-pgo)
pgo: images swarm
	scripts/pgo.sh

base-images:
	@if [[ "$(BUILDER_IMAGE)" == faas-gateway/* ]]; then scripts/base-images.sh; fi

## swarm: make this engine a single-node swarm manager when it is not in a swarm yet
swarm:
	@state=$$(docker info --format '{{.Swarm.LocalNodeState}}'); \
	if [[ "$$state" == inactive ]]; then docker swarm init --advertise-addr 127.0.0.1 >/dev/null && echo "swarm: initialised (single node, 127.0.0.1)"; \
	else echo "swarm: $$state"; fi

## status: the stack's services and where their replicas run
status:
	docker stack services $(STACK)
	docker stack ps --no-trunc=false --filter desired-state=running $(STACK)

logs:
	docker service logs --tail 50 $(STACK)_gateway

clean: down
	rm -rf build
