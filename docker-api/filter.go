// Package dockerapi is the Caddy HTTP handler that docker-api puts in
// front of a swarm manager's Docker socket: it lets through only the calls
// in Allowlist, on clean paths, and trims their answers to what the
// gateways read, so that no service's environment, secrets or mounts
// leave the manager.
//
// This file holds the module: its options, its lifecycle and the request
// path. The answers are rewritten in answers.go; the one write, the scale
// call, is made in scale.go, and in-process (a gateway on the socket) by
// local.go.
package dockerapi

import (
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Filter{})
}

// forbidden is the body of a refused call.
const forbidden = "403 forbidden: not in the faas-gateway Docker API allowlist"

// defaultLabelPrefix is the label prefix of the gateway's own default.
const defaultLabelPrefix = "faas"

// Filter guards a Docker Engine API that gateways read through: it lets
// through only the calls in Allowlist (reads of /_ping, /version,
// /services, /tasks, /networks, /containers/json, /containers/{id}/json
// and /events, optionally version-prefixed, and its own scale call, the
// one write: see ScalePath), refuses any other with 403
// and any path not in its clean, decoded form with 400. Of the answers to
// /services, /tasks, /networks and the container calls it keeps only the
// fields the gateway reads, and only labelled services, their tasks and
// labelled containers; /events is streamed, restricted to service and
// network events or to the labelled containers' events.
// Everything else passes through unchanged, as do dockerd's errors.
//
// Put it before reverse_proxy to the Docker socket.
//
// EXPERIMENTAL: Subject to change.
type Filter struct {
	// Prefix of the service and container labels the gateways read (their
	// own `label_prefix`). Only services and containers with the
	// `<prefix>.enable` label are listed, and of their labels only
	// `<prefix>.*`, `com.docker.stack.namespace` (services) and the
	// compose project and service (containers) are kept. Default: `faas`
	LabelPrefix string `json:"label_prefix,omitempty"`

	services, containers *shape
	logger               *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Filter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.docker_api_filter",
		New: func() caddy.Module { return new(Filter) },
	}
}

// Provision sets up the filter.
func (f *Filter) Provision(ctx caddy.Context) error {
	f.logger = ctx.Logger()
	if f.LabelPrefix == "" {
		f.LabelPrefix = defaultLabelPrefix
	}
	f.services = serviceShape(f.LabelPrefix)
	f.containers = containerShape(f.LabelPrefix)
	return nil
}

// Validate checks the options.
func (f *Filter) Validate() error {
	if strings.HasSuffix(f.LabelPrefix, ".") || strings.ContainsAny(f.LabelPrefix, " \t\r\n=") {
		return fmt.Errorf("label_prefix %q: want a label prefix such as %q, without a trailing dot", f.LabelPrefix, defaultLabelPrefix)
	}
	return nil
}

// ServeHTTP lets an allowed call through to next, and refuses any other.
func (f *Filter) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if problem := pathProblem(r.URL); problem != "" {
		return refuse(w, http.StatusBadRequest, "400 bad request: "+problem+": docker-api takes clean paths only")
	}
	ep, version, ok := lookup(r.Method, r.URL.Path)
	if !ok {
		return refuse(w, http.StatusForbidden, forbidden)
	}
	switch ep.answer {
	case serviceAnswer, taskAnswer, networkAnswer, containerAnswer:
		return f.serveList(w, r, next, ep.answer, version)
	case inspectAnswer:
		return f.serveInspect(w, r, next)
	case eventAnswer:
		return f.serveEvents(w, r, next, version)
	case scaleAnswer:
		return f.serveScale(w, r, next)
	default:
		return next.ServeHTTP(w, r)
	}
}

// refuse answers with status and a short text body.
func refuse(w http.ResponseWriter, status int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write([]byte(body))
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Filter)(nil)
	_ caddy.Validator             = (*Filter)(nil)
	_ caddyhttp.MiddlewareHandler = (*Filter)(nil)
)
