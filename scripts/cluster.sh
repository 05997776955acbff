#!/usr/bin/env bash
# cluster.sh up|test|lifecycle|local|scaling|down|run|scenarios|engines: a real three-node
# swarm on this one machine, for `make test-cluster` (run: up, test, and down
# whatever happens; then engines) and `make scenarios` (scenarios: up, the
# gateway lifecycle, down). engines is another layout of the same nodes: two
# independent engines, a one-node swarm (node 1) and a plain engine (node 4,
# 10.99.0.14), and one gateway reading both (e2e/engines_test.go).
# Each node is its own dockerd in its own network namespace (10.99.0.11
# manager, .12 and .13 workers, on bridge faas-br0), so no image needs
# pulling and no privileged container is needed. The test deploys
# stack.cluster.yml with the gateways on the workers only, reading the
# Docker API through docker-api (mutual TLS) on the manager; lifecycle
# updates the gateways under load through stock Caddy on this host
# (10.99.0.1:18500), standing in for a cloud load balancer.
# STACK, GATEWAY_IMAGE, MULTIPLY_IMAGE and GATEWAY_PORT default to the
# Makefile's values (which it exports).
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK=${STACK:-faas}
export GATEWAY_IMAGE=${GATEWAY_IMAGE:-faas-gateway/gateway:latest}
export MULTIPLY_IMAGE=${MULTIPLY_IMAGE:-faas-gateway/multiply:latest}
export GATEWAY_PORT=${GATEWAY_PORT:-8081}
# The upgrade's new image: a second tag of the gateway image, on every node.
gateway_next=${GATEWAY_IMAGE}-next
lb_listen=10.99.0.1:18500
gateway_sv=${STACK}_gateway multiply_sv=${STACK}_multiply
# The nodes up starts, and those that join node 1's swarm (engines: 1 and 4, none).
nodes=(1 2 3) workers=(2 3)
node_ip() { echo "10.99.0.1$1"; }
node_sock() { echo "/run/faas-n$1.sock"; }
d() { local n=$1; shift; docker -H "unix://$(node_sock "$n")" "$@"; }
# nodes_of SERVICE: the node IDs of a service's running tasks, one a line.
nodes_of() { d 1 service ps "$1" --filter desired-state=running -q | xargs -r docker -H "unix://$(node_sock 1)" inspect --format '{{.NodeID}}'; }
log() { printf '== cluster %s: %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { echo "cluster: FAIL: $*" >&2; exit 1; }

up() {
	ip link add faas-br0 type bridge 2>/dev/null || true
	ip addr add 10.99.0.1/24 dev faas-br0 2>/dev/null || true
	ip link set faas-br0 up
	# Docker sets the FORWARD policy to DROP; let the nodes talk.
	iptables -C FORWARD -i faas-br0 -o faas-br0 -j ACCEPT 2>/dev/null || iptables -I FORWARD -i faas-br0 -o faas-br0 -j ACCEPT
	echo '{}' >/run/faas-node-daemon.json
	for n in "${nodes[@]}"; do
		ns=faas-n$n
		[[ -e /run/netns/$ns ]] || ip netns add "$ns"
		if ! ip link show "veth-n$n" >/dev/null 2>&1; then
			ip link add "veth-n$n" type veth peer name eth0 netns "$ns"
			ip netns exec "$ns" ip addr add "$(node_ip "$n")/24" dev eth0
		fi
		ip link set "veth-n$n" master faas-br0 up
		ip netns exec "$ns" ip link set eth0 up
		ip netns exec "$ns" ip link set lo up
		ip netns exec "$ns" ip route replace default via 10.99.0.1
		if ! d "$n" info >/dev/null 2>&1; then
			mkdir -p "/var/lib/$ns" "/run/$ns"
			# nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups.
			nohup nsenter --net="/run/netns/$ns" dockerd --config-file /run/faas-node-daemon.json \
				--data-root "/var/lib/$ns" --exec-root "/run/$ns" --pidfile "/run/$ns.pid" \
				-H "unix://$(node_sock "$n")" --storage-driver vfs --cgroup-parent "/$ns" >"/tmp/$ns.log" 2>&1 &
		fi
	done
	for n in "${nodes[@]}"; do
		for _ in $(seq 60); do d "$n" info >/dev/null 2>&1 && break; sleep 1; done
		d "$n" info >/dev/null 2>&1 || fail "node $n's dockerd did not start (/tmp/faas-n$n.log)"
	done
	if [[ $(d 1 info --format '{{.Swarm.LocalNodeState}}') != active ]]; then
		d 1 swarm init --advertise-addr "$(node_ip 1)" >/dev/null
	fi
	token=$(d 1 swarm join-token -q worker)
	for n in "${workers[@]}"; do
		if [[ $(d "$n" info --format '{{.Swarm.LocalNodeState}}') != active ]]; then
			d "$n" swarm leave --force >/dev/null 2>&1 || true
			d "$n" swarm join --token "$token" "$(node_ip 1):2377" >/dev/null
		fi
	done
	log "swarm: $(d 1 node ls --format '{{.Status}}/{{if .ManagerStatus}}manager{{else}}worker{{end}}' | sort | uniq -c | xargs)"
	for n in "${nodes[@]}"; do
		docker save "$GATEWAY_IMAGE" "$MULTIPLY_IMAGE" | d "$n" load -q >/dev/null
		d "$n" tag "$GATEWAY_IMAGE" "$gateway_next"
	done
	log "images loaded on the ${#nodes[@]} nodes (and $gateway_next for the upgrade)"
}

# ids IP COUNT: the distinct ServiceIDs among COUNT answers through the gateway at IP.
ids() {
	for _ in $(seq "$2"); do
		curl -fsS -m 5 "http://$1:$GATEWAY_PORT/multiply/api/v1/add?x=10&y=25" | sed -n 's/.*"ServiceID":"\([^"]*\)".*/\1/p'
	done | sort -u
}

# converge REPLICAS: every gateway answers from exactly REPLICAS replicas, those swarm runs.
converge() {
	local want=$1 deadline=$((SECONDS + 120)) running
	while :; do
		running=$(d 1 service ps "$multiply_sv" --filter desired-state=running --format '{{.Name}}.{{.ID}}' --no-trunc | sort)
		local ok=1
		for n in 2 3; do
			got=$(ids "$(node_ip "$n")" $((want * 6)) 2>/dev/null || true)
			[[ "$got" == "$running" && $(wc -l <<<"$got") -eq $want ]] || ok=0
		done
		((ok)) && return 0
		((SECONDS < deadline)) || fail "gateways did not converge on $want replicas: running [$running], through .12 [$(ids "$(node_ip 2)" 12 | xargs)], .13 [$(ids "$(node_ip 3)" 12 | xargs)]"
		sleep 1
	done
}

# deploy: stack.cluster.yml, the gateways on the two workers, running.
deploy() {
	scripts/certs.sh build/certs >/dev/null
	# stack-rm.sh waits until a previous run's stack is gone, so the deploy does not race it.
	DOCKER_HOST=unix://$(node_sock 1) scripts/stack-rm.sh "$STACK" >/dev/null
	DOCKER_SOCK=$(node_sock 1) CERTS_DIR="$PWD/build/certs" d 1 stack deploy --resolve-image never \
		-c stack.cluster.yml -c scripts/cluster-workers.yml "$STACK" >/dev/null
	log "deployed stack.cluster.yml, gateways on workers only"
	deadline=$((SECONDS + 240))
	until [[ $(d 1 service ps "$gateway_sv" --filter desired-state=running --format '{{.CurrentState}}' | grep -c Running) -eq 2 ]]; do
		((SECONDS < deadline)) || fail "gateways not running on both workers"
		sleep 2
	done
	managers=$(d 1 node ls --filter role=manager -q)
	gw_nodes=$(nodes_of "$gateway_sv" | sort -u)
	[[ $(wc -l <<<"$gw_nodes") -eq 2 ]] || fail "gateways run on [$gw_nodes], want 2 nodes"
	for task_node in $gw_nodes; do
		[[ "$managers" != *"$task_node"* ]] || fail "a gateway runs on a manager"
	done
	log "gateways run on the 2 workers, none on the manager; docker-api on the manager"
}

test_cluster() {
	deploy

	d 1 service scale -d "$multiply_sv"=6 >/dev/null
	converge 6
	spread=$(nodes_of "$multiply_sv" | sort -u | wc -l)
	((spread == 3)) || fail "multiply's 6 replicas run on $spread nodes, want 3"
	log "6 replicas on all 3 nodes; each answers through each gateway"

	d 1 service scale -d "$multiply_sv"=2 >/dev/null
	converge 2
	log "scale 6→2 converged on both gateways"

	d 1 service scale -d "$multiply_sv"=4 >/dev/null
	converge 4
	log "scale 2→4 converged on both gateways"

	lifecycle
	# Before worker 3 leaves: lb local needs a replica on each of the 3 nodes,
	# and the gateways two peers.
	local_first
	scaling

	log "worker 3 leaves the swarm"
	d 3 swarm leave --force >/dev/null
	failed=0
	for _ in $(seq 60); do
		curl -fsS -m 10 "http://$(node_ip 2):$GATEWAY_PORT/multiply/api/v1/add?x=10&y=25" >/dev/null || failed=$((failed + 1))
		sleep 0.5
	done
	((failed == 0)) || fail "$failed of 60 requests through worker 2's gateway failed after worker 3 left"
	log "worker 2's gateway answered 60 of 60 requests over the 30 s after worker 3 left"
	log "PASS"
}

# lifecycle [full]: the gateway service upgraded to a new image under load
# through the stand-in load balancer, losing no request; full: restarted and
# reconfigured (a config swap) first (e2e/cluster_test.go).
lifecycle() {
	log "gateway updates under load behind the stand-in load balancer"
	DOCKER_HOST=unix://$(node_sock 1) FAAS_CLUSTER_GATEWAYS="$(node_ip 2):$GATEWAY_PORT,$(node_ip 3):$GATEWAY_PORT" \
		FAAS_CLUSTER_LB=$lb_listen FAAS_CLUSTER_NEXT_IMAGE=$gateway_next FAAS_CLUSTER_LIFECYCLE=${1:-} \
		go test -count=1 -timeout 15m -v -run '^TestClusterLifecycle$' ./e2e >/tmp/faas-cluster-lifecycle.log 2>&1 ||
		{ tail -n 80 /tmp/faas-cluster-lifecycle.log >&2; fail "gateway lifecycle (log: /tmp/faas-cluster-lifecycle.log)"; }
	cat build/cluster-lifecycle.txt
}

# local_first: lb local, each worker's gateway preferring its own node's
# replica, and falling back losslessly when it leaves (e2e/cluster_local_test.go);
# part of test_cluster, and by hand on a cluster with the stack deployed and all
# three nodes in the swarm (cluster.sh up, then cluster.sh local, which deploys).
local_first() {
	log "lb local: each gateway's own node first"
	DOCKER_HOST=unix://$(node_sock 1) FAAS_CLUSTER_GATEWAYS="$(node_ip 2):$GATEWAY_PORT,$(node_ip 3):$GATEWAY_PORT" \
		FAAS_CLUSTER_LB=$lb_listen FAAS_CLUSTER_NEXT_IMAGE=$gateway_next \
		go test -count=1 -timeout 10m -v -run '^TestClusterLocal$' ./e2e >/tmp/faas-cluster-local.log 2>&1 ||
		{ tail -n 60 /tmp/faas-cluster-local.log >&2; fail "lb local (log: /tmp/faas-cluster-local.log)"; }
	cat build/cluster-local.txt
}

# scaling: the two gateways scale a service as one (issue 25): one of them
# decides, the count follows the load of both, and the other takes over when
# the deciding one's node is drained, under load through the stand-in load
# balancer (e2e/cluster_scaling_test.go); part of test_cluster, and by hand
# (cluster.sh up, then cluster.sh scaling, which deploys). Its steps print as
# they happen.
scaling() {
	log "scaling: the gateways decide as one"
	DOCKER_HOST=unix://$(node_sock 1) FAAS_CLUSTER_GATEWAYS="$(node_ip 2):$GATEWAY_PORT,$(node_ip 3):$GATEWAY_PORT" \
		FAAS_CLUSTER_ENGINES="unix://$(node_sock 2),unix://$(node_sock 3)" \
		FAAS_CLUSTER_LB=$lb_listen FAAS_CLUSTER_NEXT_IMAGE=$gateway_next \
		go test -count=1 -timeout 10m -v -run '^TestClusterScaling$' ./e2e 2>&1 | tee /tmp/faas-cluster-scaling.log |
		sed -un 's/^ *cluster_scaling_test.go:[0-9]*: step \([0-9:]*\): /== scaling \1: /p' ||
		{ tail -n 60 /tmp/faas-cluster-scaling.log >&2; fail "scaling (log: /tmp/faas-cluster-scaling.log)"; }
	cat build/cluster-scaling.txt
}

# down removes every node either layout starts.
down() {
	local pids=() nodes=(1 2 3 4)
	for n in "${nodes[@]}"; do
		d "$n" swarm leave --force >/dev/null 2>&1 || true
		if [[ -f /run/faas-n$n.pid ]]; then
			pids+=("$(cat "/run/faas-n$n.pid")")
			kill "${pids[-1]}" 2>/dev/null || true
		fi
	done
	for _ in $(seq 30); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 1
	done
	for n in "${nodes[@]}"; do
		ip link del "veth-n$n" 2>/dev/null || true
		ip netns del "faas-n$n" 2>/dev/null || true
		# The swarm's network namespaces a stopped dockerd leaves mounted.
		find "/run/faas-n$n/netns" -type f -exec umount {} \; 2>/dev/null || true
		rm -rf "/var/lib/faas-n$n" "/run/faas-n$n" "$(node_sock "$n")" "/run/faas-n$n.pid"
	done
	iptables -D FORWARD -i faas-br0 -o faas-br0 -j ACCEPT 2>/dev/null || true
	ip link del faas-br0 2>/dev/null || true
	rm -f /run/faas-node-daemon.json
	log "removed the nodes"
}

# run: up and test, then down even when either fails or is interrupted, so
# no node's dockerd is left running; the exit status is the test's.
run() {
	trap down EXIT
	trap 'exit 130' INT TERM
	up
	test_cluster
}

# scenarios: up, deploy and the gateway lifecycle only, then down.
scenarios() {
	trap down EXIT
	trap 'exit 130' INT TERM
	up
	deploy
	converge 3
	lifecycle full
}

# The engines layout: its engines' addresses and the names docker-api is reached
# by (its server certificate names them: Caddy answers 421 to a request for an IP
# address, which TLS cannot name, with client authentication on), what runs on
# them, and its certificates.
engine_a=$(node_ip 1) engine_b=$(node_ip 4)
engines_hosts=(--add-host "engine-a:$engine_a" --add-host "engine-b:$engine_b")
engines_certs=build/certs-engines
engines_api=engines-docker-api engines_gw=engines-gateway engines_net=engines_net
# One decoy for each container the test starts on b.
engines_decoys=3

# engines: the proof of several engines in one gateway (issue 22, docs/engines.md):
# engine a, a one-node swarm, and engine b, a plain engine, both with their
# default bridge on 172.17.0.0/16, each behind docker-api (mutual TLS, on its
# host's network, port 2376); one gateway, a container on a, on a's overlay
# and default bridge, reading both. On a's bridge, decoys (unlabelled multiply
# containers) hold the addresses b's containers get on b's bridge: a gateway
# that dialled b's containers at those addresses would reach a decoy. Then
# e2e/engines_test.go; down whatever happens.
engines() {
	trap down EXIT
	trap 'exit 130' INT TERM
	nodes=(1 4) workers=()
	# Swarm's agent tries to pull a task's image before it runs it, even when it has it:
	# with no registry that costs about 20 s a task. Its engines use what they have.
	export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
	log "engines: building the test"
	mkdir -p build
	go test -c -o build/engines.test ./e2e
	up
	[[ $(d 4 info --format '{{.Swarm.LocalNodeState}}') == inactive ]] || fail "engine b is in a swarm, want a plain engine"
	SERVER_SANS="DNS:engine-a,DNS:engine-b" scripts/certs.sh "$engines_certs" >/dev/null
	for n in 1 4; do
		d "$n" rm -f "$engines_api" >/dev/null 2>&1 || true
		d "$n" run -d --name "$engines_api" --network host -e DOCKER_API_TLS_DIR=/certs \
			-v "$(node_sock "$n"):/var/run/docker.sock" -v "$PWD/$engines_certs:/certs:ro" \
			"$GATEWAY_IMAGE" run --config /etc/caddy/docker-api.Caddyfile --adapter caddyfile >/dev/null
	done
	for name in a b; do
		local ip_var=engine_$name
		ping=(curl -fsS -m 2 --resolve "engine-$name:2376:${!ip_var}" --cacert "$engines_certs/ca.pem"
			--cert "$engines_certs/cert.pem" --key "$engines_certs/key.pem" "https://engine-$name:2376/_ping")
		for _ in $(seq 30); do "${ping[@]}" >/dev/null 2>&1 && break; sleep 0.5; done
		"${ping[@]}" >/dev/null || fail "docker-api of engine $name (${!ip_var}:2376) does not answer with the client certificate"
	done
	log "docker-api (mutual TLS) on engine a ($engine_a:2376, swarm manager) and engine b ($engine_b:2376, no swarm)"
	d 1 network create --driver overlay --attachable "$engines_net" >/dev/null
	for i in $(seq "$engines_decoys"); do
		d 1 run -d --name "decoy-$i" -e "SERVICE_ID=decoy-$i" "$MULTIPLY_IMAGE" >/dev/null
	done
	d 1 create --name "$engines_gw" -p "$GATEWAY_PORT:8081" "${engines_hosts[@]}" -e "ENGINE_B_HOST=$engine_b" \
		-v "$PWD/e2e/testdata/engines.Caddyfile:/etc/caddy/Caddyfile:ro" -v "$PWD/$engines_certs:/certs:ro" \
		"$GATEWAY_IMAGE" >/dev/null
	d 1 network connect "$engines_net" "$engines_gw"
	d 1 start "$engines_gw" >/dev/null
	log "gateway on engine a ($engine_a:$GATEWAY_PORT, on $engines_net and the default bridge beside $engines_decoys decoys) reading both engines"
	FAAS_ENGINES_GATEWAY="$engine_a:$GATEWAY_PORT" FAAS_ENGINE_A="unix://$(node_sock 1)" FAAS_ENGINE_B="unix://$(node_sock 4)" \
		FAAS_ENGINE_B_HOST=$engine_b FAAS_ENGINES_GATEWAY_CONTAINER=$engines_gw FAAS_ENGINES_DOCKER_API=$engines_api \
		FAAS_ENGINES_NETWORK=$engines_net \
		bash -c 'cd e2e && exec ../build/engines.test -test.count=1 -test.timeout 5m -test.v -test.run "^TestEngines$"' 2>&1 |
		tee /tmp/faas-engines.log | sed -un 's/^ *engines_test.go:[0-9]*: step \([0-9:]*\): /== engines \1: /p' ||
		{ tail -n 60 /tmp/faas-engines.log >&2; d 1 logs --tail 40 "$engines_gw" >&2 || true; fail "engines (log: /tmp/faas-engines.log)"; }
	cat build/engines.txt
	log "PASS"
}

case "${1:-}" in
scaling) deploy && scaling ;;
up) up ;;
test) test_cluster ;;
local) deploy && local_first ;;
lifecycle) lifecycle "${2:-}" ;;
down) down ;;
run) run ;;
scenarios) scenarios ;;
engines) engines ;;
*) echo "usage: $0 up|test|lifecycle|local|scaling|down|run|scenarios|engines" >&2; exit 2 ;;
esac
