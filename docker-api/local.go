// Local: the scale call checked in-process, for a gateway that holds a
// Docker socket itself (the single-node stack mounts it) and so has no
// docker-api in front: the same code makes the same one write, with the
// same limits.

package dockerapi

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// LocalScale returns a transport that serves the scale call (ScalePath)
// itself, as docker-api does, its own calls sent through engine to
// dockerd; every other request goes to engine unchanged. labelPrefix is
// the gateway's label_prefix; log logs what the scale calls write and
// refuse (nil: nothing).
func LocalScale(engine http.RoundTripper, labelPrefix string, log *zap.Logger) http.RoundTripper {
	if log == nil {
		log = zap.NewNop()
	}
	return localScale{f: &Filter{LabelPrefix: labelPrefix, logger: log}, engine: engine}
}

type localScale struct {
	f      *Filter
	engine http.RoundTripper
}

// RoundTrip serves r when it is a scale call, and sends it to the engine
// otherwise.
func (l localScale) RoundTrip(r *http.Request) (*http.Response, error) {
	ep, _, ok := lookup(r.Method, r.URL.Path)
	if !ok || ep.answer != scaleAnswer || pathProblem(r.URL) != "" {
		return l.engine.RoundTrip(r)
	}
	if r.Body != nil {
		defer r.Body.Close()
	}
	res := new(captured)
	if err := l.f.serveScale(res, r, caddyhttp.HandlerFunc(l.forward)); err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.Err != nil {
			return nil, he.Err
		}
		return nil, err
	}
	return &http.Response{
		Status: strconv.Itoa(res.status) + " " + http.StatusText(res.status), StatusCode: res.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: res.Header(), Body: io.NopCloser(&res.body), ContentLength: int64(res.body.Len()),
		Request: r,
	}, nil
}

// forward sends one of the scale call's own calls to the engine.
func (l localScale) forward(w http.ResponseWriter, r *http.Request) error {
	res, err := l.engine.RoundTrip(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	maps.Copy(w.Header(), res.Header)
	w.WriteHeader(res.StatusCode)
	_, err = io.Copy(w, res.Body)
	return err
}
