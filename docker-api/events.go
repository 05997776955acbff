// Events: how docker-api streams /events. The query is forced to the
// swarm-scoped service and network events the gateway follows or, for a
// stream of container events, to the labelled containers' events; every
// event is trimmed to its type, action, actor ID and time (and a kill
// event's signal); and of service events
// only those about labelled services pass, plus the removal (or the update
// that drops the opt-in label) of a service that was labelled when the
// stream last saw it, so that removals stay instant.

package dockerapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

const (
	// maxRemembered caps how many labelled services one event stream
	// remembers (about 2 MiB of IDs). Past it, a service seen labelled
	// for the first time still passes, but its removal reaches the
	// gateway only with its next resync.
	maxRemembered = 65536
	// maxEventLine caps one event as dockerd sends it; a longer line
	// ends the stream.
	maxEventLine = 1 << 20
)

// serveEvents streams /events with its filters forced to swarm-scoped
// service and network events: any type or scope filter the client sent is
// replaced, other filters are kept, and of the other parameters only since
// and until. The answer is rewritten event by event by an eventFilter.
func (f *Filter) serveEvents(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, version string) error {
	q := r.URL.Query()
	args, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return refuse(w, http.StatusBadRequest, "400 bad request: filters: "+err.Error())
	}
	// A stream of container events only (the container source's) is
	// forced to the labelled containers' events; any other to swarm
	// service and network events.
	containers := slices.Equal(args.Get("type"), []string{string(events.ContainerEventType)})
	for _, key := range []string{"type", "scope", "label"} {
		if key == "label" && !containers {
			continue
		}
		for _, v := range args.Get(key) {
			args.Del(key, v)
		}
	}
	if containers {
		args.Add("type", string(events.ContainerEventType))
		args.Add("label", f.enableLabel())
	} else {
		args.Add("type", string(events.ServiceEventType))
		args.Add("type", string(events.NetworkEventType))
		args.Add("scope", "swarm")
	}
	enc, err := filters.ToJSON(args)
	if err != nil {
		return refuse(w, http.StatusBadRequest, "400 bad request: filters: "+err.Error())
	}
	forced := url.Values{"filters": {enc}}
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			forced.Set(k, v)
		}
	}
	r = identityEncoded(r)
	r = r.Clone(r.Context())
	r.URL.RawQuery = forced.Encode()

	ef := &eventFilter{
		w:          w,
		filter:     f,
		next:       next,
		req:        r,
		version:    version,
		containers: containers,
	}
	// The services labelled now: their removal, later in the stream, passes.
	var labelled map[string]string
	if !containers {
		var answer *captured
		labelled, answer, err = f.labelledServices(r, next, version, nil)
		switch {
		case err != nil:
			return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("filtering the Docker API events: %w", err))
		case answer.refused():
			return answer.writeTo(w)
		}
	}
	ef.seen = make(map[string]bool, len(labelled))
	for id := range labelled {
		ef.remember(id)
	}
	err = next.ServeHTTP(ef, r)
	if ef.err != nil {
		// The stream ends here; the gateway reconnects and lists anew.
		f.logger.Warn("event stream ended", zap.Error(ef.err))
		return nil
	}
	return err
}

// eventFilter is the ResponseWriter /events is streamed through: it
// rewrites a successful answer event by event, and passes dockerd's
// errors unchanged.
type eventFilter struct {
	w       http.ResponseWriter
	filter  *Filter
	next    caddyhttp.Handler
	req     *http.Request // the events call, for the services it looks up
	version string
	// containers is set on a stream of container events.
	containers bool

	status  int
	pending []byte          // the start of an event not yet complete
	seen    map[string]bool // labelled services this stream saw
	full    bool            // seen reached maxRemembered
	err     error           // why the stream was cut
}

// Header is the answer's header.
func (ef *eventFilter) Header() http.Header { return ef.w.Header() }

// WriteHeader drops the length of a successful answer, which the
// rewriting changes.
func (ef *eventFilter) WriteHeader(status int) {
	if ef.status == 0 {
		ef.status = status
		if ef.filtering() {
			ef.Header().Del("Content-Length")
		}
	}
	ef.w.WriteHeader(status)
}

func (ef *eventFilter) filtering() bool { return success(ef.status) }

// Write takes what dockerd streamed and writes on the complete events
// that pass, trimmed.
func (ef *eventFilter) Write(b []byte) (int, error) {
	if ef.status == 0 {
		ef.WriteHeader(http.StatusOK)
	}
	if !ef.filtering() {
		return ef.w.Write(b)
	}
	if ef.err != nil {
		return 0, ef.err
	}
	n := len(b)
	ef.pending = append(ef.pending, b...)
	for {
		i := bytes.IndexByte(ef.pending, '\n')
		if i < 0 {
			break
		}
		line := ef.pending[:i]
		ef.pending = ef.pending[i+1:]
		if err := ef.pass(line); err != nil {
			ef.err = err
			return 0, err
		}
	}
	if len(ef.pending) > maxEventLine {
		ef.err = fmt.Errorf("an event of more than %d bytes", maxEventLine)
		return 0, ef.err
	}
	// Keep the rest of an incomplete event in a buffer of its own.
	ef.pending = append([]byte(nil), ef.pending...)
	return n, nil
}

// event is what of an event leaves the manager: what the gateway reads
// (type, action, actor ID) and when it happened.
type event struct {
	Type     events.Type `json:"Type"`
	Action   string      `json:"Action"`
	Actor    eventActor  `json:"Actor"`
	Time     int64       `json:"time,omitempty"`
	TimeNano int64       `json:"timeNano,omitempty"`
}

type eventActor struct {
	ID string `json:"ID"`
	// Attributes are, of a container's kill event, its signal only.
	Attributes map[string]string `json:"Attributes,omitempty"`
}

// pass writes the event of one line on, trimmed, if it passes.
func (ef *eventFilter) pass(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	var e event
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("decoding an event: %w", err)
	}
	attrs := e.Actor.Attributes
	e.Actor.Attributes = nil
	switch {
	case ef.containers && e.Type == events.ContainerEventType:
		_, labelled := attrs[ef.filter.enableLabel()]
		if _, task := attrs[swarmTaskLabel]; !labelled || task {
			return nil
		}
		if sig, ok := attrs["signal"]; ok && e.Action == string(events.ActionKill) {
			e.Actor.Attributes = map[string]string{"signal": sig}
		}
	case ef.containers:
		return nil
	case e.Type == events.NetworkEventType:
	case e.Type == events.ServiceEventType:
		ok, err := ef.aboutLabelled(e)
		if err != nil || !ok {
			return err
		}
	default:
		return nil
	}
	out, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding an event: %w", err)
	}
	_, err = ef.w.Write(append(out, '\n'))
	return err
}

// aboutLabelled reports whether a service event passes: the service is
// labelled, or was when the stream last saw it (its removal, or the update
// that dropped the label).
func (ef *eventFilter) aboutLabelled(e event) (bool, error) {
	id := e.Actor.ID
	if !isServiceID(id) {
		return false, nil
	}
	if e.Action == "remove" {
		was := ef.seen[id]
		delete(ef.seen, id)
		return was, nil
	}
	labelled, answer, err := ef.filter.labelledServices(ef.req, ef.next, ef.version, []string{id})
	_, isLabelled := labelled[id]
	switch {
	case err != nil:
		return false, err
	case answer.refused():
		return false, fmt.Errorf("looking up service %s: dockerd answered %d", id, answer.status)
	case isLabelled:
		ef.remember(id)
		return true, nil
	default:
		was := ef.seen[id]
		delete(ef.seen, id)
		return was, nil
	}
}

// remember notes that the stream saw service id labelled.
func (ef *eventFilter) remember(id string) {
	if len(ef.seen) >= maxRemembered && !ef.seen[id] {
		if !ef.full {
			ef.full = true
			ef.filter.logger.Warn("event stream remembers no more labelled services; the removal of the others reaches gateways with their resync",
				zap.Int("remembered", len(ef.seen)))
		}
		return
	}
	ef.seen[id] = true
}

// Flush sends on what was written so far: the events that passed.
func (ef *eventFilter) Flush() {
	_ = http.NewResponseController(ef.w).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer. It
// deliberately has no ReadFrom, which would bypass the filtering.
func (ef *eventFilter) Unwrap() http.ResponseWriter { return ef.w }

// Interface guards
var _ http.Flusher = (*eventFilter)(nil)
