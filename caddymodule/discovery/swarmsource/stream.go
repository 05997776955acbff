package swarmsource

// This file holds the loop's Docker event stream: opening it without
// blocking the loop, retrying it with backoff, and noticing when it has
// gone deaf (open, but silent while listings show that services changed).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/swarm"
	"go.uber.org/zap"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// eventsWarnAfter is how many event stream failures in a row are worth a
// warning.
const eventsWarnAfter = 3

// eventStream is the watcher's event subscription. Only the loop goroutine
// touches it; the goroutine that opens a subscription hands it over on
// opened.
type eventStream struct {
	now      func() time.Time   // the watcher's clock
	sub      subscription       // the open stream, if any
	opening  context.CancelFunc // set while a subscription is being opened
	opened   chan subscription
	gen      int            // of the latest opening; older ones are stale
	wg       sync.WaitGroup // the opening goroutines
	failures int            // failures in a row
	retryAt  time.Time      // no new attempt before then

	// Deafness: the service versions seen by the first listing after the
	// stream opened or delivered an event; a later listing that shows a
	// change while no event came since is suspect, and a second one in a
	// row makes the stream deaf.
	versions   map[string]uint64
	suspect    bool
	warnedDeaf bool
}

// subscription is an open Docker event stream.
type subscription struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
	gen    int
}

func (s *eventStream) msgs() <-chan events.Message { return s.sub.msgs }

// isOpen reports whether the stream is open: its events announce changes.
func (s *eventStream) isOpen() bool { return s.sub.msgs != nil }

// retryIn is the backoff of the stream's next attempt, and whether it is
// failing at all.
func (s *eventStream) retryIn() (time.Duration, bool) {
	return engine.Backoff(s.failures), s.failures > 0
}
func (s *eventStream) errs() <-chan error { return s.sub.errs }

// ensureOpen starts opening the stream unless it is open, opening, or
// waiting to be retried. Opening waits for the engine's response headers,
// which a hung engine or an unreachable address never sends, so it runs in
// its own goroutine and hands the subscription over on opened.
func (s *eventStream) ensureOpen(ctx context.Context, api dockerAPI) {
	if s.isOpen() || s.opening != nil || s.now().Before(s.retryAt) {
		return
	}
	if s.opened == nil {
		s.opened = make(chan subscription, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	s.opening = cancel
	s.gen++
	gen := s.gen
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		msgs, errs := subscribe(ctx, api)
		select {
		case s.opened <- subscription{msgs: msgs, errs: errs, cancel: cancel, gen: gen}:
		case <-ctx.Done(): // reset or closed while opening
		}
	}()
}

// open takes over a subscription that has been opened, and reports whether
// it is the one being waited for (not one reset while it opened).
func (s *eventStream) open(sub subscription) bool {
	if s.opening == nil || sub.gen != s.gen {
		sub.cancel()
		return false
	}
	s.opening = nil
	s.sub = sub
	s.versions, s.suspect = nil, false
	return true
}

// burst notes that events came, and returns first with the events queued
// behind it, so that one listing covers a burst. What arrives after it has
// read the queue stays there for the loop's next turn.
func (s *eventStream) burst(first events.Message, log *zap.Logger) []events.Message {
	if s.failures >= eventsWarnAfter {
		log.Info("docker event stream back")
	}
	s.failures = 0
	s.versions, s.suspect = nil, false
	out := []events.Message{first}
	for {
		select {
		case m := <-s.sub.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

// lost notes that the stream ended: logged at debug level, and once at warn
// level when it keeps failing while the API itself answers (a proxy that
// blocks /events, say), since the gateway then re-lists instead.
func (s *eventStream) lost(err error, log *zap.Logger, apiDown bool) {
	s.reset()
	s.failures++
	s.retryAt = s.now().Add(engine.Backoff(s.failures))
	if errors.Is(err, context.Canceled) {
		return
	}
	log.Debug("docker event stream ended; reconnecting", zap.Error(err))
	if s.failures == eventsWarnAfter && !apiDown {
		log.Warn("docker event stream unavailable; re-listing every second until it is back (set poll_only to poll at resync_interval instead)",
			zap.Error(err))
	}
}

// checkDeaf compares a full listing's services with what the stream has
// announced, and closes a stream that missed changes (to be reopened).
func (s *eventStream) checkDeaf(services []swarm.Service, log *zap.Logger) {
	if !s.isOpen() && s.opening == nil {
		return
	}
	now := make(map[string]uint64, len(services))
	for _, svc := range services {
		now[svc.ID] = svc.Version.Index
	}
	if s.versions == nil {
		s.versions = now
		return
	}
	if !changed(s.versions, now) {
		return
	}
	if !s.suspect {
		s.suspect = true
		return
	}
	if !s.warnedDeaf {
		s.warnedDeaf = true
		log.Warn("docker event stream is silent although services changed; reopening it")
	}
	s.reset()
}

// changed reports whether two maps of service versions differ.
func changed(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return true
	}
	for id, v := range a {
		if w, ok := b[id]; !ok || w != v {
			return true
		}
	}
	return false
}

// reset closes the stream, open or opening.
func (s *eventStream) reset() {
	if s.sub.cancel != nil {
		s.sub.cancel()
	}
	if s.opening != nil {
		s.opening()
	}
	s.sub, s.opening = subscription{}, nil
	s.versions, s.suspect = nil, false
}

// close stops the stream and waits for the goroutines that open it.
func (s *eventStream) close() {
	s.reset()
	s.wg.Wait()
}
