package scaling

// This file holds the counter a request adds to: one per scaled service,
// kept across route tables.

import (
	"sync/atomic"
)

// inFlightBits are the low bits of a Load's word, which count the
// requests in flight; the bits above count the requests started.
const inFlightBits = 24

// started is what Start adds: one request more in flight, one more
// started.
const started = 1<<inFlightBits | 1

// inFlightMask selects the requests in flight of a Load's word.
const inFlightMask = 1<<inFlightBits - 1

// Load counts one service's requests on this gateway: those in flight and
// those started. Start and End are each one atomic add, with no clock
// read and no allocation: the autoscaler's tick reads the counts, and
// tells idleness from whether they moved. Up to 16,777,215 requests may
// be in flight at once; the count of requests started wraps, which only
// its changes are read for.
type Load struct {
	word atomic.Uint64
}

// Start counts a request that starts.
func (l *Load) Start() { l.word.Add(started) }

// End counts the end of a request that Start counted.
func (l *Load) End() { l.word.Add(^uint64(0)) } // minus one in flight

// Read returns the requests in flight now, and the requests started so
// far (modulo 2^40).
func (l *Load) Read() (inFlight uint64, requests uint64) {
	w := l.word.Load()
	return w & inFlightMask, w >> inFlightBits
}

// Key names a scaled service among every gateway's: its engine ("" for
// the one engine of a gateway that reads one) and its service ID. Peers
// key their reports by it.
func Key(engine, serviceID string) string { return engine + "/" + serviceID }
