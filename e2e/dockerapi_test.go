package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	dockerAPIPort = 12376
	testUserAgent = "faas-gateway-e2e"
)

// certsDir holds the test deployment's certificates, made by scripts/certs.sh.
var certsDir, _ = filepath.Abs("../build/certs")

func makeCerts(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("../scripts/certs.sh", certsDir).CombinedOutput(); err != nil {
		t.Fatalf("making certificates: %v\n%s", err, out)
	}
}

// dockerAPIClient is an HTTPS client for docker-api, with or without the
// gateways' client certificate.
func dockerAPIClient(t *testing.T, withCert bool) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(certsDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if withCert {
		pair, err := tls.LoadX509KeyPair(filepath.Join(certsDir, "cert.pem"), filepath.Join(certsDir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// testDockerAPIEndpoint checks docker-api from outside: reads in the
// allowlist pass with the client certificate; writes, other endpoints and
// clients without the certificate get nothing.
func testDockerAPIEndpoint(t *testing.T) {
	base := fmt.Sprintf("https://127.0.0.1:%d", dockerAPIPort)
	withCert, noCert := dockerAPIClient(t, true), dockerAPIClient(t, false)
	do := func(c *http.Client, method, path string) (int, error) {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("User-Agent", testUserAgent)
		req.Host = "localhost" // the certificate's name: Caddy wants the TLS server name and Host to agree
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	eventually(t, "docker-api answers", time.Minute, func() error {
		code, err := do(withCert, http.MethodGet, "/_ping")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		return err
	})
	tests := []struct {
		name         string
		client       *http.Client
		method, path string
		want         int // 0: the TLS handshake must fail
	}{
		{"GET services, with certificate", withCert, "GET", "/v1.41/services", 200},
		{"GET tasks, unversioned", withCert, "GET", "/tasks", 200},
		{"POST service create", withCert, "POST", "/v1.41/services/create", 403},
		{"DELETE a service", withCert, "DELETE", "/v1.41/services/x", 403},
		{"GET containers", withCert, "GET", "/v1.41/containers/json", 403},
		{"GET secrets", withCert, "GET", "/v1.41/secrets", 403},
		{"GET one service (not needed)", withCert, "GET", "/v1.41/services/x", 403},
		{"encoded path trick", withCert, "GET", "/v1.41/services%2F..%2Fcontainers/json", 403},
		{"dot-dot trick", withCert, "GET", "/v1.41/services/../containers/json", 403},
		{"GET services, no certificate", noCert, "GET", "/v1.41/services", 0},
	}
	for _, tt := range tests {
		code, err := do(tt.client, tt.method, tt.path)
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("%s: got status %d, want the TLS handshake refused", tt.name, code)
		case tt.want != 0 && (err != nil || code != tt.want):
			t.Errorf("%s: got %d, %v; want %d", tt.name, code, err, tt.want)
		}
	}
}

// allowedAPI is the README's list of the Docker API calls the gateway makes.
var allowedAPI = regexp.MustCompile(`^(HEAD|GET) (/v1\.[0-9]+)?/(_ping|services|tasks|networks|events)(\?.*)?$`)

// checkDockerAPILog reads docker-api's access log, a record of every call
// the gateway made through the scenarios, and fails on any call outside the
// allowlist, or refused.
func checkDockerAPILog(t *testing.T) {
	out, err := exec.Command("docker", "service", "logs", "--raw", stackName+"_docker-api").CombinedOutput()
	if err != nil {
		t.Errorf("reading docker-api's log: %v\n%s", err, out)
		return
	}
	calls := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		var entry struct {
			Logger  string
			Status  int
			Request struct {
				Method, URI string
				Headers     map[string][]string
			}
		}
		if json.Unmarshal([]byte(line), &entry) != nil || !strings.HasPrefix(entry.Logger, "http.log.access") {
			continue
		}
		if ua := entry.Request.Headers["User-Agent"]; len(ua) > 0 && ua[0] == testUserAgent {
			continue // this test's own probes
		}
		call := entry.Request.Method + " " + entry.Request.URI
		key := entry.Request.Method + " " + strings.SplitN(entry.Request.URI, "?", 2)[0]
		calls[key]++
		if !allowedAPI.MatchString(call) || entry.Status == http.StatusForbidden {
			t.Errorf("the gateway called %s (status %d): outside the allowlist", call, entry.Status)
		}
	}
	if len(calls) == 0 {
		t.Error("docker-api logged no call from the gateway")
	}
	t.Logf("Docker API calls the gateway made through docker-api: %v", calls)
}
