// Package e2e holds the end-to-end tests: they deploy stack.yml on the real
// Docker engine's swarm, under a test-only stack name and port, and drive
// it through the gateway with plain HTTP, the way a user would.
//
// Under -short (`make unit`) they skip before touching Docker. Without
// Docker they skip and say why; with CI=true they fail instead.
// They need the images (`make images`) and a swarm (`make swarm`);
// `make test` does both first.
package e2e
