# The gateway image: Caddy built by xcaddy with this module.
#
# Online, the defaults use the official Caddy images:
#   docker build -f xcaddy.Dockerfile -t faas-gateway/gateway .
# Without a registry, `make images` first makes both base images locally
# (scripts/base-images.sh, with `docker import`) and passes them in:
#   docker build -f xcaddy.Dockerfile \
#     --build-arg BUILDER_IMAGE=faas-gateway/builder-base:local \
#     --build-arg RUNTIME_IMAGE=faas-gateway/runtime-base:local -t faas-gateway/gateway .
# Every RUN uses the exec form, so the builder needs no shell.
#
# The tuning (BENCHMARKS.md, "Tuning the shipped gateway"): the garbage
# collector's setting below, and the lazy log encoder (gateway.caddy). A
# profile-guided build is an option, off by default because it measured
# slower here: `make gateway-image-pgo` builds with pgo/default.pgo
# (`make pgo` takes it again from load):
#   --build-arg GO_PGO=/src/pgo/default.pgo
ARG BUILDER_IMAGE=caddy:2-builder
ARG RUNTIME_IMAGE=caddy:2

FROM ${BUILDER_IMAGE} AS builder
ARG CADDY_VERSION=v2.11.9
ENV CADDY_VERSION=${CADDY_VERSION} CGO_ENABLED=0 XCADDY_SETCAP=0
WORKDIR /src

# Dependencies first, and a build of Caddy with xcaddy's own flags, so that
# these layers stay cached while only the module's source changes.
COPY go.mod go.sum ./
RUN ["go", "mod", "download"]
# The profile for profile-guided optimisation ("off", the default: none). Through
# GOFLAGS it reaches both this warm-up build and xcaddy's (whose
# XCADDY_GO_BUILD_FLAGS would replace its default flags), so the warm-up
# layer's compiled packages are the ones xcaddy reuses.
ARG GO_PGO=off
COPY pgo/default.pgo pgo/
ENV GOFLAGS=-pgo=${GO_PGO}
# The amd64 instruction set level the compiler may assume (v1, Go's default,
# runs on any x86-64; v3 needs AVX2, BMI2, FMA), a lever the bench measures
# (BENCH_IMAGES): --build-arg GOAMD64=v3.
ARG GOAMD64=v1
ENV GOAMD64=${GOAMD64}
RUN ["go", "build", "-trimpath", "-tags", "nobadger,nomysql,nopgx", "-o", "/dev/null", \
     "github.com/caddyserver/caddy/v2/cmd/caddy", "github.com/docker/docker/client"]

COPY . .
# The module path is not published, and some module proxies answer 403
# (not 404) for unknown paths, so `--with <path>/caddymodule --replace` can
# fail; naming the root package at the zero version with =. needs no lookup.
RUN ["xcaddy", "build", "--output", "/caddy", \
     "--with", "github.com/faas-gateway/faas-gateway@v0.0.0-00010101000000-000000000000=."]

FROM ${RUNTIME_IMAGE}
# The collector's setting: GOGC=200 lets the heap grow to three times what
# is live before a cycle (Go's default, 100, to twice), so cycles come half
# as often. GOMEMLIMIT is left to Caddy, which sets it to 90% of the
# container's memory limit when there is one (a service's
# resources.limits.memory), bounding what GOGC would let the heap grow to.
ARG GOGC=200
ENV GOGC=${GOGC}
COPY --from=builder /caddy /usr/bin/caddy
# The Caddyfiles, and gateway.caddy, which the default and the HTTPS one
# import: beside the default here as in the repository, while https.Caddyfile
# (in https/ there, where it imports ../gateway.caddy) finds it through
# FAAS_CADDY_DIR.
COPY Caddyfile gateway.caddy /etc/caddy/
COPY docker-api/Caddyfile /etc/caddy/docker-api.Caddyfile
COPY https/Caddyfile /etc/caddy/https.Caddyfile
ENV FAAS_CADDY_DIR=/etc/caddy
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
EXPOSE 8081
WORKDIR /srv
ENTRYPOINT ["/usr/bin/caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
