package discovery

// This file holds the re-lists that failing requests ask for: a retry
// often means a replica has just gone, which no event announces. They are
// bounded per service, and a source lists only that service's replicas.

import (
	"sync"
	"time"
)

// minKickInterval is the least time between two re-lists that requests
// cause for one service.
const minKickInterval = time.Second

// kickSet collects the services whose replicas requests asked to re-list.
type kickSet struct {
	wake chan struct{} // signalled when pending gains a service

	mu      sync.Mutex
	pending map[string]struct{}  // service IDs
	last    map[string]time.Time // when each service was last asked for
}

func newKickSet() kickSet {
	return kickSet{
		wake:    make(chan struct{}, 1),
		pending: make(map[string]struct{}),
		last:    make(map[string]time.Time),
	}
}

// Kick asks the source of the named service (by ServiceKey) for a re-list of its replicas,
// without waiting for it. It does nothing for a service the source
// already re-lists because it converges, for one scaled to zero (a failure
// there says nothing new), and for one asked about less than
// minKickInterval ago: so clients, however many and however persistent,
// cause at most one re-list per service per interval, of that service's
// replicas only.
func (w *Watcher) Kick(service string) {
	st, ok := w.Snapshot().Report.Services[service]
	if !ok || st.Converging || st.Idle {
		return
	}
	k := &w.kicks[st.source]
	now := w.now()
	k.mu.Lock()
	if now.Sub(k.last[st.ID]) < minKickInterval {
		k.mu.Unlock()
		return
	}
	k.last[st.ID] = now
	k.pending[st.ID] = struct{}{}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// take returns the pending service IDs and clears them, and forgets the
// services not asked about for a while, so the set stays small.
func (k *kickSet) take(now time.Time) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ids := make([]string, 0, len(k.pending))
	for id := range k.pending {
		ids = append(ids, id)
		delete(k.pending, id)
	}
	for id, t := range k.last {
		if now.Sub(t) > minKickInterval {
			delete(k.last, id)
		}
	}
	return ids
}
