// Tests of which calls docker-api lets through: methods, endpoints,
// versions, and paths not in their clean form.

package dockerapi

import (
	"net/http"
	"strings"
	"testing"
)

func TestAllowlist(t *testing.T) {
	d := newFakeDockerd(t)
	f := newFilter(t, "")
	tests := []struct {
		name           string
		method, target string
		header         http.Header
		want           int // 200: let through (dockerd answered)
	}{
		{"ping", "GET", "/_ping", nil, 200},
		{"ping, HEAD", "HEAD", "/_ping", nil, 200},
		{"ping, versioned", "HEAD", "/v1.41/_ping", nil, 200},
		{"version", "GET", "/version", nil, 200},
		{"version, versioned", "GET", "/v1.24/version", nil, 200},
		{"services", "GET", "/v1.41/services?status=true", nil, 200},
		{"services, unversioned", "GET", "/services", nil, 200},
		{"services, API 1.51", "GET", "/v1.51/services", nil, 200},
		{"tasks", "GET", "/v1.41/tasks?filters=%7B%22desired-state%22%3A%7B%22running%22%3Atrue%7D%7D", nil, 200},
		{"networks", "GET", "/v1.41/networks", nil, 200},

		{"HEAD services", "HEAD", "/v1.41/services", nil, 403},
		{"POST service create", "POST", "/v1.41/services/create", nil, 403},
		{"POST services", "POST", "/v1.41/services", nil, 403},
		{"PUT ping", "PUT", "/_ping", nil, 403},
		{"DELETE a service", "DELETE", "/v1.41/services/x", nil, 403},
		{"OPTIONS services", "OPTIONS", "/v1.41/services", nil, 403},
		{"one service", "GET", "/v1.41/services/9mnpnzenvg8p8tdbtq4wvbkcz", nil, 403},
		{"service logs", "GET", "/v1.41/services/x/logs", nil, 403},
		{"containers", "GET", "/v1.41/containers/json?filters=%7B%22label%22%3A%5B%22faas.enable%22%5D%7D", nil, 200},
		{"a container", "GET", "/v1.41/containers/c1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/json", nil, 200},
		{"a container's logs", "GET", "/v1.41/containers/c1/logs", nil, 403},
		{"a container's files", "GET", "/v1.41/containers/c1/archive", nil, 403},
		{"container create", "POST", "/v1.41/containers/create", nil, 403},
		{"container kill", "POST", "/v1.41/containers/c1/kill", nil, 403},
		{"a container, POST", "POST", "/v1.41/containers/c1/json", nil, 403},
		{"a container, odd ID", "GET", "/v1.41/containers/-x/json", nil, 403},
		{"containers, deeper", "GET", "/v1.41/containers/c1/json/x", nil, 403},
		{"secrets", "GET", "/v1.41/secrets", nil, 403},
		{"configs", "GET", "/v1.41/configs", nil, 403},
		{"nodes", "GET", "/v1.41/nodes", nil, 403},
		{"swarm", "GET", "/v1.41/swarm", nil, 403},
		{"info", "GET", "/info", nil, 403},
		{"root", "GET", "/", nil, 403},
		{"upper case", "GET", "/SERVICES", nil, 403},
		{"version 2", "GET", "/v2.0/services", nil, 403},
		{"version without number", "GET", "/v1./services", nil, 403},
		{"version only", "GET", "/v1.41", nil, 403},
		{"two versions", "GET", "/v1.41/v1.41/services", nil, 403},
		{"version glued on", "GET", "/v1.41services", nil, 403},
		{"suffix", "GET", "/servicesx", nil, 403},
		{"path parameter", "GET", "/services;x", nil, 403},

		{"override to DELETE does nothing", "GET", "/v1.41/services", http.Header{
			"X-Http-Method-Override": {"DELETE"}, "X-Http-Method": {"DELETE"}, "X-Method-Override": {"DELETE"},
		}, 200},
		{"override to GET does not allow a POST", "POST", "/v1.41/services/create", http.Header{
			"X-Http-Method-Override": {"GET"}, "X-Http-Method": {"GET"}, "X-Method-Override": {"GET"},
		}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := d.callCount()
			w, err := do(t, f, d, tt.method, tt.target, tt.header)
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if w.Code != tt.want {
				t.Fatalf("%s %s: status %d, want %d; body %q", tt.method, tt.target, w.Code, tt.want, w.Body)
			}
			reached := d.callCount() > before
			if tt.want == 200 {
				if got := d.lastCall(); !reached || got.Scheme != tt.method {
					t.Errorf("dockerd got %v, want a %s", got, tt.method)
				}
				return
			}
			if reached {
				t.Errorf("a refused call reached dockerd: %v", d.lastCall())
			}
			if body := w.Body.String(); body != forbidden {
				t.Errorf("body %q, want %q", body, forbidden)
			}
		})
	}
}

func TestUncleanPaths(t *testing.T) {
	d := newFakeDockerd(t)
	f := newFilter(t, "")
	for _, target := range []string{
		"//services",
		"/./services",
		"/%73ervices",
		"/v1.41%2Fservices",
		"/v1.41//services",
		"/v1.41/./services",
		"/v1.41/x/../services",
		"/v1.41/services/",
		"/services/.",
		"/services/..",
		"/v1.41/services/..%2F..%2Fcontainers/json",
		"/v1.41/services%2F..%2Fcontainers/json",
		"/v1.41/services/../containers/json",
		"/%2e/services",
		"/services%00",
		"/services%20",
		"/ser%2Fvices",
		"/v1.41/secrets/",
		"/_ping/",
		"//",
		"*",
	} {
		t.Run(target, func(t *testing.T) {
			before := d.callCount()
			w, err := do(t, f, d, "GET", target, nil)
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Body.String(), "400 bad request: ") {
				t.Errorf("GET %s: %d %q, want 400", target, w.Code, w.Body)
			}
			if d.callCount() > before {
				t.Errorf("an unclean path reached dockerd: %v", d.lastCall())
			}
		})
	}
}

// TestAllows checks the exported test of the allowlist, which the
// end-to-end checks use on docker-api's access log.
func TestAllows(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"HEAD", "/_ping", true},
		{"GET", "/v1.41/events", true},
		{"GET", "/v1.41/version", true},
		{"HEAD", "/v1.41/events", false},
		{"GET", "/v1.41/containers/json", true},
		{"GET", "/v1.41/containers/c1aaaa/json", true},
		{"GET", "/v1.41/containers/c1aaaa/logs", false},
		{"GET", "/v1.41/containers/c1aaaa/top", false},
		{"GET", "/v1.41/services/x", false},
		{"POST", "/v1.41/faas/services/faas_multiply/scale", true},
		{"POST", "/faas/services/9mnpnzenvg8p8tdbtq4wvbkcz/scale", true},
		{"GET", "/faas/services/x/scale", false},
		{"POST", "/faas/services/x/scale/x", false},
		{"POST", "/faas/services/scale", false},
		{"POST", "/faas/services/-x/scale", false},
		{"POST", "/v1.41/services/x/update", false},
		{"POST", "/v1.41/services/x/scale", false},
		{"POST", "/v1.41/services", false},
	} {
		if got := Allows(tt.method, tt.path); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
