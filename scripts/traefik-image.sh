#!/usr/bin/env bash
# traefik-image.sh SRC_DIR [TAG]: builds Traefik, the bench's contender
# (TRAEFIK_IMAGE, e2e/bench_traefik_test.go), from its source: SRC_DIR is a
# clone of Traefik's public repository (github.com/traefik/traefik). It
# checks out v3.7.9 there (TRAEFIK_VERSION overrides), gives the build the
# placeholder web UI it embeds (the bench needs no dashboard), compiles one
# static binary and wraps it in a FROM scratch image with a CA bundle,
# tagged TAG (default faas-gateway/bench-traefik:<version>). The build takes
# about 15 minutes of both cores; its modules come from the Go module proxy.
# Then: TRAEFIK_IMAGE=<TAG> make bench
set -euo pipefail

src=${1:?usage: scripts/traefik-image.sh SRC_DIR [TAG]}
version=${TRAEFIK_VERSION:-v3.7.9}
tag=${2:-faas-gateway/bench-traefik:$version}
certs=/etc/ssl/certs/ca-certificates.crt
[ -r "$certs" ] || { echo "traefik-image: $certs not found (install ca-certificates)" >&2; exit 1; }
[ -f "$src/cmd/traefik/traefik.go" ] || { echo "traefik-image: $src is not Traefik's source (no cmd/traefik/traefik.go)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git -C "$src" checkout --quiet "$version"
mkdir -p "$src/webui/static"
echo '<html></html>' >"$src/webui/static/index.html"
echo "traefik-image: building $version in $src (about 15 minutes on 2 cores)"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/traefik" ./cmd/traefik)

cp "$certs" "$work/ca-certificates.crt"
cat >"$work/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY traefik /traefik
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
EXPOSE 8081
ENTRYPOINT ["/traefik"]
DOCKERFILE
docker build -q -t "$tag" "$work" >/dev/null
echo "traefik-image: built $tag; run the bench with it: TRAEFIK_IMAGE=$tag make bench"
