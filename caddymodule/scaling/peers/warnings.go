package peers

import (
	"net/netip"

	"go.uber.org/zap"
)

// warnings logs a failure once, when it starts, and its end, not every
// poll. It belongs to the poller's goroutine.
type warnings map[string]bool

// report logs err under what and key if key was not failing already, or
// the recovery if it was and err is nil.
func (w warnings) report(log *zap.Logger, key, what string, err error) {
	switch {
	case err != nil && !w[key]:
		w[key] = true
		log.Warn(what+" failed (logged once until it works)", zap.String("target", key), zap.Error(err))
	case err == nil && w[key]:
		delete(w, key)
		log.Info(what+" works again", zap.String("target", key))
	}
}

// keep forgets the failures of every key but name and addrs, so that a peer
// that leaves and comes back is warned about again.
func (w warnings) keep(name string, addrs []netip.Addr) {
	kept := make(map[string]bool, len(addrs)+1)
	kept[name] = true
	for _, a := range addrs {
		kept[a.String()] = true
	}
	for key := range w {
		if !kept[key] {
			delete(w, key)
		}
	}
}
