package containersource

// This file holds the loop's subscription to the engine's container
// events: opened once the first listing has succeeded, and reopened with
// backoff when it ends.

import (
	"context"
	"errors"
	"time"

	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// eventSub is the loop's event subscription; only the loop touches it.
type eventSub struct {
	msgs     <-chan events.Message // nil while closed
	errs     <-chan error
	cancel   context.CancelFunc
	failures int       // failures in a row
	lostAt   time.Time // when it last ended
	retryAt  time.Time // no new attempt before then
}

// isOpen reports whether the stream is open: its events announce changes.
func (s *eventSub) isOpen() bool { return s.msgs != nil }

// due reports whether the stream is to be opened now: it is closed and
// not waiting to be retried.
func (s *eventSub) due(now time.Time) bool { return !s.isOpen() && !now.Before(s.retryAt) }

// open subscribes. The client sends the request and waits for the
// engine's answer in its own goroutine, so this does not block; a failure
// arrives on errs.
func (s *eventSub) open(ctx context.Context, l lister) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.msgs, s.errs = l.subscribe(ctx)
}

// burst notes that the stream works, and returns first with the events
// queued behind it, so that one listing covers a burst.
func (s *eventSub) burst(first events.Message, log *zap.Logger) []events.Message {
	if s.failures >= eventsWarnAfter {
		log.Info("docker container event stream back")
	}
	s.failures = 0
	out := []events.Message{first}
	for {
		select {
		case m := <-s.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

// lost notes that the stream ended, to be reopened with backoff: logged
// at debug level, and once at warn level when it keeps failing while the
// API itself answers (a proxy that blocks container events, say).
func (s *eventSub) lost(err error, now time.Time, log *zap.Logger, apiDown bool) {
	s.close()
	s.failures++
	s.lostAt = now
	s.retryAt = now.Add(engine.Backoff(s.failures))
	if errors.Is(err, context.Canceled) {
		return
	}
	log.Debug("docker container event stream ended; reconnecting", zap.Error(err))
	if s.failures == eventsWarnAfter && !apiDown {
		log.Warn("docker container event stream unavailable; re-listing the containers every second until it is back (set poll_only to poll at resync_interval instead)",
			zap.Error(err))
	}
}

// close ends the subscription, if any.
func (s *eventSub) close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.msgs, s.errs, s.cancel = nil, nil, nil
}
