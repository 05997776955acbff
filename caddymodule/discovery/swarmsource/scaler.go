package swarmsource

// This file holds the source's one write: a service's replica count, set
// through docker-api's scale call, which checks the service's scaling
// labels and makes the update itself. On a Docker socket, where no
// docker-api stands in front, the same check runs in-process.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/docker/docker/client"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
	dockerapi "github.com/faas-gateway/faas-gateway/docker-api"
)

// scaleEndpoint names the scale call in errors.
const scaleEndpoint = "POST " + dockerapi.ScalePath

// ScaleError is a scale call the Docker API refused: 403 for a count or a
// service the scaling labels do not allow, 404 for a service that does
// not exist or did not opt in.
type ScaleError struct {
	Status  int
	Message string
}

func (e *ScaleError) Error() string {
	return fmt.Sprintf("refused with %d: %s", e.Status, e.Message)
}

// Scale sets the replica count of service (its ID or name) with
// docker-api's scale call, over the Docker client's own connection and
// TLS. docker-api allows only a service with the enable and scaling labels
// and a count within their bounds, and changes nothing else. On a Docker
// socket (unix or npipe: dockerd itself) the call is checked in-process
// by the same code, so the same limits hold.
func (s *Source) Scale(ctx context.Context, service string, replicas uint64) error {
	req, local, err := s.scaleRequest(service, replicas)
	if err != nil {
		return fmt.Errorf("%s: %w", scaleEndpoint, err)
	}
	hc := s.API.HTTPClient()
	if local {
		hc.Transport = dockerapi.LocalScale(hc.Transport, s.opts.LabelPrefix, s.opts.ScaleLog)
	}
	return engine.Caller{Timeout: s.opts.APITimeout}.Call(ctx, scaleEndpoint, func(ctx context.Context) error {
		res, err := hc.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if res.StatusCode == http.StatusOK {
			return nil
		}
		var msg struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.Message == "" {
			msg.Message = strings.TrimSpace(string(body))
		}
		if res.StatusCode == http.StatusNotFound && msg.Message == "page not found" {
			msg.Message = "the Docker API at " + s.API.DaemonHost() + " has no scale call: a Docker host reached over TCP needs docker-api in front of it to scale (docs/scaling.md)"
		}
		return &ScaleError{Status: res.StatusCode, Message: msg.Message}
	})
}

// scaleRequest is the scale call of service to replicas on the source's
// engine, and whether the engine is a local socket (dockerd itself).
func (s *Source) scaleRequest(service string, replicas uint64) (*http.Request, bool, error) {
	if service == "" || service == "." || service == ".." || url.PathEscape(service) != service {
		return nil, false, fmt.Errorf("service %q: want a service ID or name", service)
	}
	host, err := client.ParseHostURL(s.API.DaemonHost())
	if err != nil {
		return nil, false, err
	}
	path := strings.Replace(dockerapi.ScalePath, "{id}", service, 1) + "?replicas=" + strconv.FormatUint(replicas, 10)
	var target string
	local := false
	switch host.Scheme {
	case "unix", "npipe":
		// The client's transport dials the socket whatever the URL's host.
		target, local = "http://"+client.DummyHost+path, true
	case "tcp":
		scheme := "http"
		if s.opts.Conn.TLS() {
			scheme = "https"
		}
		target = scheme + "://" + host.Host + host.Path + path
	default:
		return nil, false, fmt.Errorf("docker host %s: cannot scale over %s", s.API.DaemonHost(), host.Scheme)
	}
	req, err := http.NewRequest(http.MethodPost, target, nil)
	if err != nil {
		return nil, false, err
	}
	if local {
		req.Host = client.DummyHost
	}
	return req, local, nil
}
