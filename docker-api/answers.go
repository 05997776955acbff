// Answers: how docker-api rewrites what dockerd answers. List answers
// (/services, /tasks, /networks) are buffered, trimmed to the fields in
// fields.go and to labelled services, and sent on with a new length;
// /events keeps streaming, with its query forced to service and network
// events. dockerd's errors pass through unchanged.

package dockerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serveList sends a list call on to next and rewrites its answer: only
// successful answers are buffered, so dockerd's errors pass as they came.
func (f *Filter) serveList(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, kind answerKind, version string) error {
	r = identityEncoded(r)
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)

	rec := caddyhttp.NewResponseRecorder(w, buf, func(status int, _ http.Header) bool {
		return status >= 200 && status < 300
	})
	if err := next.ServeHTTP(rec, r); err != nil {
		return err
	}
	if !rec.Buffered() {
		return nil
	}
	if ce := w.Header().Get("Content-Encoding"); ce != "" && ce != "identity" {
		return badGateway(w, fmt.Errorf("answer is %s-encoded, which docker-api cannot filter", ce))
	}

	var (
		elem *shape
		keep func(map[string]any) bool // nil: every element
	)
	switch kind {
	case networkAnswer:
		elem = networkShape
	case serviceAnswer:
		elem, keep = f.services, f.labelled
	case taskAnswer:
		ids, failed, err := f.labelledServiceIDs(r, next, version)
		switch {
		case err != nil:
			return badGateway(w, err)
		case failed != nil:
			// dockerd refused the service list: pass its answer on.
			clear(w.Header())
			return failed.writeTo(w)
		}
		elem, keep = taskShape, func(t map[string]any) bool {
			id, _ := t["ServiceID"].(string)
			return ids[id]
		}
	}
	out, err := filterList(buf.Bytes(), elem, keep)
	if err != nil {
		return badGateway(w, err)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(rec.Status())
	_, err = w.Write(out)
	return err
}

// filterList decodes a JSON array, keeps the elements keep accepts (all
// when keep is nil), trims each to elem, and encodes the result.
func filterList(body []byte, elem *shape, keep func(map[string]any) bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var list []any
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding the answer: data after the list")
	}
	out := make([]any, 0, len(list))
	for _, v := range list {
		if obj, ok := v.(map[string]any); !ok || (keep != nil && !keep(obj)) {
			continue
		}
		if kept, ok := elem.filter(v); ok {
			out = append(out, kept)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encoding the answer: %w", err)
	}
	return b.Bytes(), nil
}

// labelled reports whether a service carries the enable label (whatever
// its value: the gateway warns about a malformed one).
func (f *Filter) labelled(svc map[string]any) bool {
	spec, _ := svc["Spec"].(map[string]any)
	labels, _ := spec["Labels"].(map[string]any)
	_, ok := labels[f.enableLabel()]
	return ok
}

func (f *Filter) enableLabel() string { return f.LabelPrefix + ".enable" }

// askedServiceIDs returns the service IDs a task listing is filtered by, or
// none when it is not filtered by service, or by anything but full IDs
// (dockerd also takes names there, which an id filter would not match).
func askedServiceIDs(r *http.Request) []string {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		return nil
	}
	ids := args.Get("service")
	for _, id := range ids {
		if !isServiceID(id) {
			return nil
		}
	}
	return ids
}

// isServiceID reports whether s is a full swarm object ID: 25 characters,
// lower-case letters and digits.
func isServiceID(s string) bool {
	if len(s) != 25 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// labelledServiceIDs lists the labelled services with a second call
// through next (the same proxy, so the same dockerd), and returns their
// IDs; or, when dockerd refuses that call, its answer.
func (f *Filter) labelledServiceIDs(r *http.Request, next caddyhttp.Handler, version string) (map[string]bool, *captured, error) {
	want := filters.NewArgs(filters.Arg("label", f.enableLabel()))
	// A task listing of some services (the gateway's converge polls) needs
	// only those: dockerd then lists a few services, not every labelled one.
	for _, id := range askedServiceIDs(r) {
		want.Add("id", id)
	}
	args, err := filters.ToJSON(want)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the service filter: %w", err)
	}
	sub := r.Clone(r.Context())
	sub.Method = http.MethodGet
	sub.URL.Path, sub.URL.RawPath = version+"/services", ""
	sub.URL.RawQuery = url.Values{"filters": {args}}.Encode()
	sub.Body, sub.ContentLength = http.NoBody, 0

	var res captured
	if err := next.ServeHTTP(&res, sub); err != nil {
		return nil, nil, fmt.Errorf("listing the labelled services: %w", err)
	}
	if res.status < 200 || res.status > 299 {
		return nil, &res, nil
	}
	var services []struct{ ID string }
	if err := json.Unmarshal(res.body.Bytes(), &services); err != nil {
		return nil, nil, fmt.Errorf("decoding the labelled services: %w", err)
	}
	ids := make(map[string]bool, len(services))
	for _, s := range services {
		ids[s.ID] = true
	}
	f.logger.Debug("tasks limited to labelled services", zap.Int("services", len(ids)))
	return ids, nil, nil
}

// serveEvents streams /events with its filters forced to service and
// network events: any type filter the client sent is replaced, other
// filters are kept, and of the other parameters only since and until.
func serveEvents(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	q := r.URL.Query()
	args, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return refuse(w, http.StatusBadRequest, "400 bad request: filters: "+err.Error())
	}
	for _, t := range args.Get("type") {
		args.Del("type", t)
	}
	args.Add("type", "service")
	args.Add("type", "network")
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
	r = r.Clone(r.Context())
	r.URL.RawQuery = forced.Encode()
	return next.ServeHTTP(w, r)
}

// identityEncoded returns r asking for an answer that is not compressed,
// so that it can be read and rewritten.
func identityEncoded(r *http.Request) *http.Request {
	if r.Header.Get("Accept-Encoding") == "" {
		return r
	}
	r = r.Clone(r.Context())
	r.Header.Del("Accept-Encoding")
	return r
}

// badGateway drops what was recorded of the answer and fails the call:
// an answer that cannot be filtered is not sent at all.
func badGateway(w http.ResponseWriter, err error) error {
	clear(w.Header())
	return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("filtering the Docker API answer: %w", err))
}

// captured is an answer held in memory: that of a call docker-api makes
// for itself.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header {
	if c.header == nil {
		c.header = make(http.Header)
	}
	return c.header
}

func (c *captured) WriteHeader(status int) {
	if c.status == 0 && status >= 200 {
		c.status = status
	}
}

func (c *captured) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(b)
}

// Flush does nothing: the answer is kept whole.
func (c *captured) Flush() {}

// writeTo sends the captured answer to w.
func (c *captured) writeTo(w http.ResponseWriter) error {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.WriteHeader(c.status)
	_, err := w.Write(c.body.Bytes())
	return err
}
