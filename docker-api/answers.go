// Answers: how docker-api rewrites what dockerd answers. List answers
// (/services, /tasks, /networks, /containers/json) and container
// inspections are buffered, trimmed to the fields in fields.go and to
// labelled services and containers, and sent on with a new length;
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
	"strings"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serveList sends a list call on to next and rewrites its answer (see
// rewrite).
func (f *Filter) serveList(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, kind answerKind, version string) error {
	r = identityEncoded(r)
	var (
		elem *shape
		keep func(map[string]any) bool // nil: every element
	)
	switch kind {
	case networkAnswer:
		elem = networkShape
	case containerAnswer:
		elem, keep = f.containers, func(c map[string]any) bool {
			labels, _ := c["Labels"].(map[string]any)
			return f.labelledContainer(labels)
		}
	case serviceAnswer:
		elem, keep = f.services, f.labelled
	case taskAnswer:
		// The labelled services first: a listing of the tasks of a hidden
		// service is answered as one of a missing service, before dockerd
		// is asked for any task.
		asked := askedServices(r)
		labelled, answer, err := f.labelledServices(r, next, version, askedServiceIDs(asked))
		switch {
		case err != nil:
			return badGateway(w, err)
		case answer.refused():
			// dockerd refused the service list: pass its answer on.
			return answer.writeTo(w)
		}
		if name, hidden := firstHidden(asked, labelled); hidden {
			return serviceNotFound(w, answer, name)
		}
		elem, keep = taskShape, func(t map[string]any) bool {
			id, _ := t["ServiceID"].(string)
			_, ok := labelled[id]
			return ok
		}
	}

	return rewrite(w, r, next, func(body []byte) (int, []byte, error) {
		out, err := filterList(body, elem, keep)
		return 0, out, err
	})
}

// serveInspect sends a container inspection on to next and rewrites its
// answer: a labelled container's stop signal, and for any other container
// dockerd's answer about a missing one, so that the two look the same.
func (f *Filter) serveInspect(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	r = identityEncoded(r)
	segs := strings.Split(r.URL.Path, "/")
	id := segs[len(segs)-2] // .../containers/{id}/json
	return rewrite(w, r, next, func(body []byte) (int, []byte, error) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var c map[string]any
		if err := dec.Decode(&c); err != nil {
			return 0, nil, fmt.Errorf("decoding the answer: %w", err)
		}
		config, _ := c["Config"].(map[string]any)
		labels, _ := config["Labels"].(map[string]any)
		if !f.labelledContainer(labels) {
			msg, err := json.Marshal(struct {
				Message string `json:"message"`
			}{"No such container: " + id})
			return http.StatusNotFound, append(msg, '\n'), err
		}
		kept, _ := inspectShape.filter(c)
		out, err := json.Marshal(kept)
		return 0, append(out, '\n'), err
	})
}

// rewrite sends r on to next and, when the answer is a success, sends in
// its place what edit makes of its body, with edit's status (0: the
// answer's). Only successful answers are buffered, so dockerd's errors
// pass as they came.
func rewrite(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, edit func(body []byte) (int, []byte, error)) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	rec := caddyhttp.NewResponseRecorder(w, buf, func(status int, _ http.Header) bool {
		return success(status)
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
	status, out, err := edit(buf.Bytes())
	if err != nil {
		return badGateway(w, err)
	}
	if status == 0 {
		status = rec.Status()
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
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

// labelledContainer reports whether a container's labels carry the enable
// label and it is no swarm task's (whose service the gateway routes).
func (f *Filter) labelledContainer(labels map[string]any) bool {
	_, ok := labels[f.enableLabel()]
	_, task := labels[swarmTaskLabel]
	return ok && !task
}

func (f *Filter) enableLabel() string { return f.LabelPrefix + ".enable" }

// askedServices returns the services (names or IDs) a task listing is
// filtered by, none when it is not filtered by service.
func askedServices(r *http.Request) []string {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		return nil
	}
	return args.Get("service")
}

// askedServiceIDs returns asked when it holds only full IDs; none when it
// holds a name or a prefix, which an id filter would not match.
func askedServiceIDs(asked []string) []string {
	for _, id := range asked {
		if !isServiceID(id) {
			return nil
		}
	}
	return asked
}

// firstHidden returns the first asked service that is not labelled, by
// full ID or by name: dockerd would list the tasks of a hidden one, or
// say that a missing one does not exist, and both must look the same.
func firstHidden(asked []string, labelled map[string]string) (string, bool) {
	names := make(map[string]bool, len(labelled))
	for _, name := range labelled {
		names[name] = true
	}
	for _, v := range asked {
		if _, ok := labelled[v]; !ok && !names[v] {
			return v, true
		}
	}
	return "", false
}

// serviceNotFound answers as dockerd answers a task listing of a service
// that does not exist, with the headers of dockerd's answer like.
func serviceNotFound(w http.ResponseWriter, like *captured, name string) error {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
	}{fmt.Sprintf("service %s not found", name)})
	if err != nil {
		return badGateway(w, err)
	}
	return like.reply(w, http.StatusNotFound, append(body, '\n'))
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

// labelledServices lists the labelled services (of ids only, when given)
// with a call through next (the same proxy, so the same dockerd), and
// returns their names by ID and dockerd's answer; when dockerd refuses
// the call, only its answer, refused.
func (f *Filter) labelledServices(r *http.Request, next caddyhttp.Handler, version string, ids []string) (map[string]string, *captured, error) {
	want := filters.NewArgs(filters.Arg("label", f.enableLabel()))
	// A task listing of some services (the gateway's converge polls) needs
	// only those: dockerd then lists a few services, not every labelled one.
	for _, id := range ids {
		want.Add("id", id)
	}
	args, err := filters.ToJSON(want)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the service filter: %w", err)
	}
	res, err := engineCall(r, next, http.MethodGet, version+"/services", url.Values{"filters": {args}}.Encode(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the labelled services: %w", err)
	}
	if res.refused() {
		return nil, res, nil
	}
	var services []struct {
		ID   string
		Spec struct{ Name string }
	}
	if err := json.Unmarshal(res.body.Bytes(), &services); err != nil {
		return nil, nil, fmt.Errorf("decoding the labelled services: %w", err)
	}
	names := make(map[string]string, len(services))
	for _, s := range services {
		names[s.ID] = s.Spec.Name
	}
	f.logger.Debug("labelled services listed", zap.Int("services", len(names)))
	return names, res, nil
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

// refused reports whether the answer is not a success.
func (c *captured) refused() bool { return !success(c.status) }

// success reports whether status is a 2xx, the answers docker-api rewrites.
func success(status int) bool { return status >= 200 && status < 300 }

// writeTo sends the captured answer to w, in place of anything w holds.
func (c *captured) writeTo(w http.ResponseWriter) error {
	return c.reply(w, c.status, c.body.Bytes())
}

// reply sends status and body to w with the captured answer's headers
// (dockerd's own, such as Api-Version and Server) and body's length.
func (c *captured) reply(w http.ResponseWriter, status int, body []byte) error {
	clear(w.Header())
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
