#!/usr/bin/env bash
# Makes the two base images xcaddy.Dockerfile needs, without any registry:
#   faas-gateway/builder-base:local  the local Go toolchain, xcaddy, CA certificates
#   faas-gateway/runtime-base:local  CA certificates and Caddy's directories, nothing else
# Each is made with `docker import` from a tar of files on this machine, and only
# when missing (FORCE=1 remakes them).
set -euo pipefail

XCADDY_VERSION=${XCADDY_VERSION:-v0.4.5}
builder=faas-gateway/builder-base:local
runtime=faas-gateway/runtime-base:local
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
certs=/etc/ssl/certs/ca-certificates.crt
[ -r "$certs" ] || { echo "base-images: $certs not found (install ca-certificates)" >&2; exit 1; }

if have "$builder"; then
	echo "base-images: $builder exists"
else
	goroot=$(go env GOROOT)
	echo "base-images: making $builder from $goroot ($(go env GOVERSION)) and xcaddy $XCADDY_VERSION"
	root=$work/builder
	mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/root" "$root/tmp" "$root/src"
	chmod 1777 "$root/tmp"
	cp "$certs" "$root/etc/ssl/certs/"
	GOBIN=$root/usr/local/bin CGO_ENABLED=0 GOFLAGS= go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	# The Go tree without what a build never reads.
	tar -C "$(dirname "$goroot")" --exclude='go/test' --exclude='go/doc' --exclude='go/api' \
		-cf "$work/go.tar" "$(basename "$goroot")"
	mkdir -p "$root/usr/local" && tar -C "$root/usr/local" -xf "$work/go.tar" && rm "$work/go.tar"
	[ -d "$root/usr/local/go" ] || mv "$root/usr/local/$(basename "$goroot")" "$root/usr/local/go"
	tar -C "$root" -c . | docker import \
		-c 'ENV PATH=/usr/local/go/bin:/usr/local/bin:/go/bin' \
		-c 'ENV HOME=/root GOPATH=/go GOTOOLCHAIN=local' \
		-c 'WORKDIR /src' \
		- "$builder" >/dev/null
	echo "base-images: made $builder"
fi

if have "$runtime"; then
	echo "base-images: $runtime exists"
else
	root=$work/runtime
	mkdir -p "$root/etc/ssl/certs" "$root/etc/caddy" "$root/config" "$root/data" "$root/srv" "$root/tmp"
	chmod 1777 "$root/tmp"
	cp "$certs" "$root/etc/ssl/certs/"
	tar -C "$root" -c . | docker import - "$runtime" >/dev/null
	echo "base-images: made $runtime"
fi
