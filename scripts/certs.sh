#!/usr/bin/env bash
# certs.sh [DIR]: make the certificates for the read-only Docker API endpoint
# (mutual TLS), in DIR (default build/certs):
#   ca.pem, ca-key.pem             a CA made for this deployment only
#   server-cert.pem, server-key.pem  docker-api's certificate (names: docker-api, tasks.docker-api, localhost,
#                                    and SERVER_SANS, e.g. IP:10.0.0.5,DNS:green, for docker-api reached by those)
#   cert.pem, key.pem              the gateways' certificate: a client of docker-api, and of and to each other (peers; name faas-gateway)
# Existing files are kept (FORCE=1 remakes them). Keys are ECDSA P-256.
set -euo pipefail
dir=${1:-build/certs}
days=${DAYS:-825}
if [[ -f "$dir/cert.pem" && "${FORCE:-0}" != 1 ]]; then
	echo "certs: $dir exists (FORCE=1 remakes it)"; exit 0
fi
command -v openssl >/dev/null || { echo "certs: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }

key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -subj "/CN=faas-gateway docker-api CA" -out ca.pem

key server-key.pem
openssl req -new -key server-key.pem -subj "/CN=docker-api" -out server.csr
printf 'subjectAltName=DNS:docker-api,DNS:tasks.docker-api,DNS:localhost,IP:127.0.0.1%s\nextendedKeyUsage=serverAuth\n' "${SERVER_SANS:+,$SERVER_SANS}" >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile server.ext -out server-cert.pem 2>/dev/null

key key.pem
openssl req -new -key key.pem -subj "/CN=faas-gateway" -out client.csr
printf 'subjectAltName=DNS:faas-gateway\nextendedKeyUsage=clientAuth,serverAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile client.ext -out cert.pem 2>/dev/null

rm -f server.csr client.csr server.ext client.ext ca.srl
chmod 644 ca.pem server-cert.pem cert.pem
echo "certs: made $dir (CA, docker-api server certificate, gateway client certificate)"
