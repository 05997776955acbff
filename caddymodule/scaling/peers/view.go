package peers

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// view is what the poller knows of the swarm: the latest answer for the
// name and the latest report of every peer in it. The poller replaces it
// whole after each poll; Leader and Reports read it.
type view struct {
	// self is this gateway's lowest address in the answer; invalid when the
	// answer does not hold this gateway.
	self netip.Addr
	// peers holds the other addresses of the answer, with what they last
	// sent (zero until they answer).
	peers map[netip.Addr]seen
	// polls counts the polls done so far.
	polls int
	// left is set when this gateway was in an earlier answer and is not
	// in this one: swarm takes a stopping task out of the name's answer
	// as its shutdown starts, while the task still runs (shutdown_delay,
	// then its requests in flight), and its peers stop counting it at
	// once; it leaves the decisions to them rather than decide beside
	// them until it exits.
	left bool
}

// seen is one peer's latest report and when it arrived.
type seen struct {
	report scaling.Report
	at     time.Time
}

// live reports whether a peer that last answered as s is live at now.
func (s seen) live(now time.Time, liveFor time.Duration) bool {
	return !s.at.IsZero() && now.Sub(s.at) <= liveFor
}

// leader reports whether this gateway decides at now: it does when it has
// polled twice and no live peer has an address below its own, or when it
// has never been in the answer at all (it decides alone); not when it has
// left the answer.
func (v *view) leader(now time.Time, liveFor time.Duration) bool {
	if v.polls < 2 {
		return false
	}
	if !v.self.IsValid() {
		return !v.left
	}
	for addr, s := range v.peers {
		if addr.Less(v.self) && s.live(now, liveFor) {
			return false
		}
	}
	return true
}

// reports returns the reports of the live peers, ordered by address.
func (v *view) reports(now time.Time, liveFor time.Duration) []scaling.Report {
	var reps []scaling.Report
	for _, addr := range v.addrs() {
		if s := v.peers[addr]; s.live(now, liveFor) {
			reps = append(reps, s.report)
		}
	}
	return reps
}

// next returns the view for a new poll: answer is the resolved addresses
// (nil when resolving failed: the last answer is kept), selfAddrs this
// gateway's own. Peers keep what they last sent; the poller then records
// what arrives before it publishes the view.
func (v *view) next(answer, selfAddrs []netip.Addr) *view {
	if answer == nil {
		return &view{self: v.self, peers: maps.Clone(v.peers), polls: v.polls + 1, left: v.left}
	}
	n := &view{peers: make(map[netip.Addr]seen, len(answer)), polls: v.polls + 1}
	for _, addr := range answer {
		addr = addr.Unmap()
		if !slices.Contains(selfAddrs, addr) {
			n.peers[addr] = v.peers[addr]
		} else if !n.self.IsValid() || addr.Less(n.self) {
			n.self = addr
		}
	}
	n.left = !n.self.IsValid() && (v.self.IsValid() || v.left)
	return n
}

// addrs returns the peers' addresses, in order.
func (v *view) addrs() []netip.Addr {
	return slices.SortedFunc(maps.Keys(v.peers), netip.Addr.Compare)
}
