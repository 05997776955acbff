// Scale: the one write docker-api makes, POST /faas/services/{id}/scale
// ?replicas=N. The caller names a service and a count, nothing else:
// docker-api reads the service's whole spec from the engine, checks that
// it opted in to scaling and that the count is within its labels' bounds,
// changes the replica count alone and updates the service with the
// version it read. A gateway can thus change how many replicas a
// labelled service runs, and never its image, environment, mounts,
// labels or any other service.

package dockerapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// ScalePath is the path of docker-api's own scale call.
const ScalePath = "/faas/services/{id}/scale"

// maxScaleAttempts is how many times a scale call reads and updates the
// service when another update comes between its read and its write
// (dockerd's "update out of sequence"). It never forces an update.
const maxScaleAttempts = 3

// outOfSequence is what dockerd says of an update whose version is no
// longer the service's.
const outOfSequence = "update out of sequence"

// serveScale sets the replica count of one service that opted in to
// scaling, and refuses, logged, anything else.
func (f *Filter) serveScale(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	segs := strings.Split(r.URL.Path, "/")
	name := segs[len(segs)-2] // .../services/{id}/scale
	n, problem := scaleCount(r)
	if problem != "" {
		return f.refuseScale(w, r, name, problem)
	}
	for attempt := 1; ; attempt++ {
		svc, answer, err := f.readService(r, next, name)
		switch {
		case err != nil:
			return badGateway(w, err)
		case answer.refused():
			return answer.writeTo(w)
		case svc == nil:
			// An unlabelled service looks like a missing one, as in a
			// listing of its tasks.
			return serviceNotFound(w, answer, name)
		}
		if problem := svc.scalable(f.LabelPrefix, n); problem != "" {
			return f.refuseScale(w, r, name, problem)
		}
		if svc.replicas() == n {
			return f.scaled(w, r, svc, n, n)
		}
		was := svc.replicas()
		res, err := f.updateService(r, next, svc, n)
		switch {
		case err != nil:
			return badGateway(w, err)
		case res.refused() && strings.Contains(res.body.String(), outOfSequence) && attempt < maxScaleAttempts:
			f.logger.Info("service updated meanwhile; reading it again",
				zap.String("service", svc.id), zap.Int("attempt", attempt))
			continue
		case res.refused():
			f.logger.Warn("dockerd refused a scale update", zap.String("service", svc.id),
				zap.Int("status", res.status), zap.ByteString("answer", bytes.TrimSpace(res.body.Bytes())))
			return res.writeTo(w)
		}
		return f.scaled(w, r, svc, was, n)
	}
}

// scaleCount reads the count a scale call asks for, or says why the call
// is refused: its query holds replicas=N alone (N in decimal) and it has
// no body.
func scaleCount(r *http.Request) (uint64, string) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, "malformed query"
	}
	for k := range q {
		if k != "replicas" {
			return 0, fmt.Sprintf("unexpected query parameter %q: a scale call takes replicas=N alone", k)
		}
	}
	if len(q["replicas"]) != 1 {
		return 0, "want one replicas=N"
	}
	v := q.Get("replicas")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("replicas=%q: want a whole number", v)
	}
	if r.Body != nil {
		if b, _ := io.ReadAll(io.LimitReader(r.Body, 1)); len(b) > 0 {
			return 0, "a scale call has no body"
		}
	}
	return n, ""
}

// service is one service as dockerd answers GET /services/{id}, decoded
// whole so that what docker-api writes back is exactly what it read but
// for the replica count, whatever fields this dockerd has.
type service struct {
	id, name, version string
	labels            map[string]string
	obj               map[string]any
	spec              map[string]any
}

// readService reads the service named (by ID or name) from the engine. It
// returns dockerd's answer, alone when refused, and no service when the
// one found does not carry the enable label.
func (f *Filter) readService(r *http.Request, next caddyhttp.Handler, name string) (*service, *captured, error) {
	res, err := engineCall(r, next, http.MethodGet, "/services/"+name, "", nil)
	if err != nil || res.refused() {
		return nil, res, err
	}
	dec := json.NewDecoder(bytes.NewReader(res.body.Bytes()))
	dec.UseNumber()
	svc := &service{labels: map[string]string{}}
	if err := dec.Decode(&svc.obj); err != nil {
		return nil, nil, fmt.Errorf("decoding service %s: %w", name, err)
	}
	svc.id, _ = svc.obj["ID"].(string)
	svc.spec, _ = svc.obj["Spec"].(map[string]any)
	svc.name, _ = svc.spec["Name"].(string)
	version, _ := svc.obj["Version"].(map[string]any)
	index, _ := version["Index"].(json.Number)
	svc.version = index.String()
	ls, _ := svc.spec["Labels"].(map[string]any)
	for k, v := range ls {
		if s, ok := v.(string); ok {
			svc.labels[k] = s
		}
	}
	if _, ok := svc.labels[f.enableLabel()]; !ok {
		return nil, res, nil
	}
	if !isServiceID(svc.id) || svc.spec == nil || strings.Trim(svc.version, "0123456789") != "" || svc.version == "" {
		return nil, nil, fmt.Errorf("service %s: answer without an ID, a spec or a version", name)
	}
	return svc, res, nil
}

// scalable says why svc may not run n replicas, or returns "" when it
// may: it is enabled, replicated, and its scaling labels allow n.
func (svc *service) scalable(prefix string, n uint64) string {
	if on, err := strconv.ParseBool(strings.TrimSpace(svc.labels[prefix+"."+labels.Enable])); err != nil || !on {
		return fmt.Sprintf("service %s is not enabled (%s.%s)", svc.name, prefix, labels.Enable)
	}
	s, ok, err := labels.ParseScaling(svc.labels, prefix)
	switch {
	case err != nil:
		return fmt.Sprintf("service %s: %v", svc.name, err)
	case !ok:
		return fmt.Sprintf("service %s has no scaling labels (%s.%s.*)", svc.name, prefix, labels.Scale)
	case svc.replicated() == nil:
		return fmt.Sprintf("service %s is not replicated: only a replicated service's count can be set", svc.name)
	}
	if err := s.Allows(n); err != nil {
		return fmt.Sprintf("service %s: %v", svc.name, err)
	}
	return ""
}

// replicated is the spec's Mode.Replicated, nil when the service is not
// replicated (global, or a job).
func (svc *service) replicated() map[string]any {
	mode, _ := svc.spec["Mode"].(map[string]any)
	rep, _ := mode["Replicated"].(map[string]any)
	return rep
}

// replicas is the spec's replica count.
func (svc *service) replicas() uint64 {
	v, _ := svc.replicated()["Replicas"].(json.Number)
	n, _ := strconv.ParseUint(v.String(), 10, 64)
	return n
}

// updateService posts svc's spec, with n replicas and nothing else
// changed, as the update of the version read.
func (f *Filter) updateService(r *http.Request, next caddyhttp.Handler, svc *service, n uint64) (*captured, error) {
	svc.replicated()["Replicas"] = json.Number(strconv.FormatUint(n, 10))
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(svc.spec); err != nil {
		return nil, fmt.Errorf("encoding the spec of service %s: %w", svc.id, err)
	}
	q := url.Values{"version": {svc.version}}.Encode()
	return engineCall(r, next, http.MethodPost, "/services/"+svc.id+"/update", q, body.Bytes())
}

// scaled answers a scale call that succeeded, and logs it.
func (f *Filter) scaled(w http.ResponseWriter, r *http.Request, svc *service, was, n uint64) error {
	f.logger.Info("service scaled", zap.String("service", svc.name), zap.String("id", svc.id),
		zap.Uint64("from", was), zap.Uint64("to", n), zap.String("caller", caller(r)))
	return answerJSON(w, http.StatusOK, struct {
		ID       string
		Name     string
		Replicas uint64
		Previous uint64
	}{svc.id, svc.name, n, was})
}

// refuseScale answers a refused scale call with 403 and logs why.
func (f *Filter) refuseScale(w http.ResponseWriter, r *http.Request, name, problem string) error {
	f.logger.Warn("scale call refused", zap.String("service", name), zap.String("reason", problem),
		zap.String("caller", caller(r)))
	return answerJSON(w, http.StatusForbidden, struct {
		Message string `json:"message"`
	}{"403 forbidden: " + problem})
}

// caller names who made r: its client certificate's subject, or its
// address.
func caller(r *http.Request) string {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0].Subject.String()
	}
	return r.RemoteAddr
}

// answerJSON answers with status and v in JSON.
func answerJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return badGateway(w, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// engineCall makes a call of docker-api's own through next (the same
// proxy, so the same dockerd) and returns its answer. It sends none of
// r's headers: no registry credentials ride along on an update. The scale
// calls give path no API version prefix: dockerd then reads and writes
// the spec in its own version, so that no field is dropped or defaulted
// by a conversion (and an old version does not re-resolve the image).
func engineCall(r *http.Request, next caddyhttp.Handler, method, path, query string, body []byte) (*captured, error) {
	sub := r.Clone(r.Context())
	sub.Method = method
	sub.Header = http.Header{}
	sub.URL.Path, sub.URL.RawPath, sub.URL.RawQuery = path, "", query
	sub.Body, sub.ContentLength = http.NoBody, 0
	if body != nil {
		sub.Header.Set("Content-Type", "application/json")
		sub.Body, sub.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	res := new(captured)
	if err := next.ServeHTTP(res, sub); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return res, nil
}
