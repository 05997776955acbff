#!/usr/bin/env bash
# certs.sh [DIR]: make the certificates for the read-only Docker API endpoint
# (mutual TLS), in DIR (default build/certs):
#   ca.pem, ca-key.pem             a CA made for this deployment only
#   server-cert.pem, server-key.pem  docker-api's certificate (names: docker-api, tasks.docker-api, localhost,
#                                    and SERVER_SANS, e.g. IP:10.0.0.5,DNS:green, for docker-api reached by those)
#   cert.pem, key.pem              the gateways' certificate: a client of docker-api, and of and to each other (peers; name faas-gateway)
# Existing files are kept (FORCE=1 remakes them), but for a gateways' certificate from an
# older certs.sh, without the serverAuth usage the peer exchange needs: remade from the same CA.
# Keys are ECDSA P-256.
set -euo pipefail
dir=${1:-build/certs}
days=${DAYS:-825}
command -v openssl >/dev/null || { echo "certs: openssl is needed (apt-get install openssl)" >&2; exit 1; }
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
# gateway_cert: the gateways' key and certificate, from the CA in this directory.
gateway_cert() {
	key key.pem
	openssl req -new -key key.pem -subj "/CN=faas-gateway" -out client.csr
	printf 'subjectAltName=DNS:faas-gateway\nextendedKeyUsage=clientAuth,serverAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile client.ext -out cert.pem 2>/dev/null
	rm -f client.csr client.ext ca.srl
	chmod 644 cert.pem
}
if [[ -f "$dir/cert.pem" && "${FORCE:-0}" != 1 ]]; then
	# An older certs.sh made the gateways' certificate for docker-api only: the
	# gateways' peer exchange refuses it. Remake it alone, from the same CA.
	if [[ -f "$dir/ca-key.pem" ]] && ! openssl x509 -in "$dir/cert.pem" -noout -text | grep -q 'TLS Web Server Authentication'; then
		(cd "$dir" && umask 077 && gateway_cert)
		echo "certs: $dir: remade the gateways' certificate with the name faas-gateway and serverAuth, for the peer exchange (the CA is kept; a deployed stack needs its secrets renamed or the stack removed)"
		exit 0
	fi
	echo "certs: $dir exists (FORCE=1 remakes it)"; exit 0
fi
mkdir -p "$dir"
cd "$dir"
umask 077

key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -subj "/CN=faas-gateway docker-api CA" -out ca.pem

key server-key.pem
openssl req -new -key server-key.pem -subj "/CN=docker-api" -out server.csr
printf 'subjectAltName=DNS:docker-api,DNS:tasks.docker-api,DNS:localhost,IP:127.0.0.1%s\nextendedKeyUsage=serverAuth\n' "${SERVER_SANS:+,$SERVER_SANS}" >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile server.ext -out server-cert.pem 2>/dev/null
rm -f server.csr server.ext

gateway_cert
chmod 644 ca.pem server-cert.pem
echo "certs: made $dir (CA, docker-api server certificate, the gateways' certificate)"
