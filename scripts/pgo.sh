#!/usr/bin/env bash
# pgo.sh: profiles the gateway under load and writes pgo/default.pgo, the
# profile that xcaddy.Dockerfile builds the gateway with (profile-guided
# optimisation). `make pgo` runs it; then `make gateway-image-pgo` to use it.
#
# It deploys stack.yml as stack $STACK on port $PORT with $GATEWAY_IMAGE and
# $MULTIPLY_IMAGE (three multiply replicas), loads the multiply route with
# wrk (2 threads, 32 keep-alive connections, the bench's settings) for
# $SECONDS_LOAD seconds, and meanwhile takes a CPU profile and an allocation
# profile of the load from Caddy's admin endpoint (localhost:2019 in the
# gateway's container, reached by entering the container's network
# namespace: nothing is published). Then it removes the stack.
#
# Writes pgo/default.pgo (the CPU profile) and, in build/pgo, the two
# profiles and their top functions (go tool pprof -top).
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${STACK:-faaspgo} port=${PORT:-18181} seconds=${SECONDS_LOAD:-30}
url="http://127.0.0.1:$port/multiply/api/v1/add?x=10&y=25"
out=build/pgo
mkdir -p "$out" pgo
for tool in wrk nsenter curl; do
	command -v "$tool" >/dev/null || { echo "pgo: $tool is not installed" >&2; exit 1; }
done

trap 'scripts/stack-rm.sh "$stack" >/dev/null' EXIT
GATEWAY_PORT=$port docker stack deploy --resolve-image never -c stack.yml "$stack" >/dev/null
STACK=$stack TIMEOUT=120 scripts/wait-url.sh "$url" >/dev/null
# All three replicas running, and a short warm-up outside the profile.
for _ in $(seq 1 60); do
	[[ "$(docker service ls --filter "name=${stack}_multiply" --format '{{.Replicas}}')" == 3/3 ]] && break
	sleep 1
done
wrk -t2 -c32 -d3s "$url" >/dev/null

container=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_gateway")
pid=$(docker inspect --format '{{.State.Pid}}' "$container")
admin() { nsenter -t "$pid" -n curl -fsS --max-time $((seconds + 30)) -o "$2" "http://localhost:2019/debug/pprof/$1"; }

profile=$((seconds - 4))
wrk -t2 -c32 -d"${seconds}s" "$url" >"$out/wrk.txt" &
wrk_pid=$!
sleep 2
admin "profile?seconds=$profile" "$out/cpu.pprof" &
cpu_pid=$!
admin "allocs?seconds=$profile" "$out/allocs.pprof"
wait "$cpu_pid" "$wrk_pid"

cp "$out/cpu.pprof" pgo/default.pgo
go tool pprof -top -nodecount 60 "$out/cpu.pprof" >"$out/cpu-top.txt" 2>/dev/null
go tool pprof -top -nodecount 60 -sample_index alloc_space "$out/allocs.pprof" >"$out/allocs-top.txt" 2>/dev/null
echo "pgo: wrote pgo/default.pgo from ${profile}s of load ($(grep Requests/sec "$out/wrk.txt" | tr -s ' '))"
echo "pgo: profiles and their top functions in $out; build the image with it: make gateway-image-pgo"
