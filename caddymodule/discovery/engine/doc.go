// Package engine holds what every source of one Docker engine shares: its
// client (connected the way the docker CLI connects), the time limit and
// error accounting of each call, the backoff of retries, and which of the
// engine's networks the gateway itself is on.
//
// Files: client.go (the client and each call), networks.go (the gateway's
// own addresses and the networks they lie in).
package engine
