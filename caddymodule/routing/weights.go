package routing

// This file holds what a weighted choice needs beside the route: the
// random draw, and the stable key that names a side in a cookie.

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
)

// randN draws uniformly in [0,n), n > 0: the runtime's per-thread
// generator, which takes no lock and does not allocate. Tests replace it
// with a seeded source.
var randN = rand.Uint64N

// sideKeyOf is the key of a side in a side cookie: a hash of its service
// and route names, so that every gateway gives a side the same key and
// a client learns nothing of the names from it.
func sideKeyOf(service, name string) string {
	sum := sha256.Sum256([]byte("faas-side\x00" + service + "\x00" + name))
	return hex.EncodeToString(sum[:8])
}
