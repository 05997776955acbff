#!/usr/bin/env bash
# stack-rm.sh STACK: remove a stack and wait until its services and networks are gone,
# so that a new deploy under the same name does not race the removal.
set -uo pipefail
stack=$1
if [[ -z "$(docker stack services -q "$stack" 2>/dev/null)" && -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]]; then
	echo "stack $stack: not deployed"; exit 0
fi
docker stack rm "$stack"
for _ in $(seq 1 60); do
	if [[ -z "$(docker service ls -q --filter "label=com.docker.stack.namespace=$stack")" && -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]]; then
		echo "stack $stack: removed"; exit 0
	fi
	sleep 1
done
echo "stack $stack: still being removed after 60s" >&2
exit 1
