#!/usr/bin/env bash
# wait-url.sh URL: wait (with a progress line) until URL answers 200, then print it.
# STACK names the stack whose replicas the progress line shows, or COMPOSE_PROJECT
# the compose project whose containers it shows; TIMEOUT is in seconds.
set -uo pipefail
url=$1 stack=${STACK:-faas} project=${COMPOSE_PROJECT:-} timeout=${TIMEOUT:-180}
start=$SECONDS
while :; do
	body=$(curl -fsS --max-time 2 "$url" 2>/dev/null) && break
	elapsed=$((SECONDS - start))
	if ((elapsed >= timeout)); then
		echo; echo "wait-url: $url did not answer within ${timeout}s" >&2
		if [[ -n $project ]]; then
			docker ps -a --filter "label=com.docker.compose.project=$project" >&2 || true
			echo "gateway logs: docker-compose -p $project -f compose/docker-compose.yml logs gateway" >&2
		else
			docker stack ps --filter desired-state=running "$stack" >&2 || true
			echo "gateway logs: docker service logs ${stack}_gateway" >&2
		fi
		exit 1
	fi
	if [[ -n $project ]]; then
		replicas=$(docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Status}};' 2>/dev/null | tr '\n' ' ')
	else
		replicas=$(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}' 2>/dev/null | tr '\n' ' ')
	fi
	printf '\rwaiting for the gateway (%3ds): %s' "$elapsed" "$replicas"
	sleep 1
done
printf '\rready after %ds%*s\n' "$((SECONDS - start))" 60 ''
echo "$body"
echo
echo "  curl '$url'"
echo
