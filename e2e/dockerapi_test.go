package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	dockerapi "github.com/faas-gateway/faas-gateway/docker-api"
	"github.com/faas-gateway/faas-gateway/internal/loadgen"
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

// dockerAPICall sends one request to docker-api as this test (its own
// calls are left out of the check of the gateway's calls) and returns the
// status and body. target is sent as written, unclean paths included.
func dockerAPICall(c *http.Client, method, target string) (int, string, error) {
	req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", dockerAPIPort, target), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", testUserAgent)
	req.Host = "localhost" // the certificate's name: Caddy wants the TLS server name and Host to agree
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// testDockerAPIEndpoint checks docker-api from outside: reads in the
// allowlist pass with the client certificate; writes, other endpoints,
// unclean paths and clients without the certificate get nothing; and no
// answer carries a service's secrets.
func testDockerAPIEndpoint(t *testing.T) {
	withCert, noCert := dockerAPIClient(t, true), dockerAPIClient(t, false)
	eventually(t, "docker-api answers", time.Minute, func() error {
		code, _, err := dockerAPICall(withCert, http.MethodGet, "/_ping")
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
		{"HEAD ping", withCert, "HEAD", "/v1.41/_ping", 200},
		{"GET version", withCert, "GET", "/v1.41/version", 200},
		{"HEAD services", withCert, "HEAD", "/v1.41/services", 403},
		{"POST service create", withCert, "POST", "/v1.41/services/create", 403},
		{"DELETE a service", withCert, "DELETE", "/v1.41/services/x", 403},
		{"GET containers (the labelled standalone ones)", withCert, "GET", "/v1.41/containers/json", 200},
		{"GET a container's logs", withCert, "GET", "/v1.41/containers/x/logs", 403},
		{"POST container create", withCert, "POST", "/v1.41/containers/create", 403},
		{"GET secrets", withCert, "GET", "/v1.41/secrets", 403},
		{"GET one service (not needed)", withCert, "GET", "/v1.41/services/x", 403},
		{"encoded path trick", withCert, "GET", "/v1.41/services%2F..%2Fcontainers/json", 400},
		{"dot-dot trick", withCert, "GET", "/v1.41/services/../containers/json", 400},
		{"double slash", withCert, "GET", "//services", 400},
		{"dot segment", withCert, "GET", "/./services", 400},
		{"encoded letter", withCert, "GET", "/%73ervices", 400},
		{"encoded slash", withCert, "GET", "/v1.41%2Fservices", 400},
		{"GET services, no certificate", noCert, "GET", "/v1.41/services", 0},
	}
	for _, tt := range tests {
		code, _, err := dockerAPICall(tt.client, tt.method, tt.path)
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("%s: got status %d, want the TLS handshake refused", tt.name, code)
		case tt.want != 0 && (err != nil || code != tt.want):
			t.Errorf("%s: got %d, %v; want %d", tt.name, code, err, tt.want)
		}
	}
	t.Run("no secret leaves the manager", testDockerAPIKeepsSecrets)
	t.Run("the one write: a count within the scaling labels", testDockerAPIScale)
}

// testDockerAPIScale checks docker-api's one write on the swarm: the
// replica count of a service with scaling labels, within their bounds,
// changing nothing else; every other count, service and write refused.
func testDockerAPIScale(t *testing.T) {
	scaled, unscaled, plain := stackName+"_scalecheck", stackName+"_scalecheck_unscaled", stackName+"_scalecheck_plain"
	createMultiply(t, scaled, []string{"faas.enable=true", "faas.path=/scalecheck", "faas.port=8080", "faas.scale.min=1", "faas.scale.max=3"},
		"--env", "KEEP=me")
	createMultiply(t, unscaled, []string{"faas.enable=true", "faas.path=/scalecheck_unscaled", "faas.port=8080"})
	createMultiply(t, plain, nil)
	before := inspectSpec(t, scaled)

	withCert := dockerAPIClient(t, true)
	scale := func(service, n string) string {
		return strings.Replace(dockerapi.ScalePath, "{id}", service, 1) + "?replicas=" + n
	}
	tests := []struct {
		name, method, target string
		want                 int
	}{
		{"within the bounds", http.MethodPost, scale(scaled, "2"), http.StatusOK},
		{"above faas.scale.max", http.MethodPost, scale(scaled, "4"), http.StatusForbidden},
		{"0 without an idle time", http.MethodPost, scale(scaled, "0"), http.StatusForbidden},
		{"not a count", http.MethodPost, scale(scaled, "two"), http.StatusForbidden},
		{"a labelled service without scaling labels", http.MethodPost, scale(unscaled, "2"), http.StatusForbidden},
		{"an unlabelled service, as a missing one", http.MethodPost, scale(plain, "2"), http.StatusNotFound},
		{"a missing service", http.MethodPost, scale(stackName+"_nope", "2"), http.StatusNotFound},
		{"GET of the scale call", http.MethodGet, scale(scaled, "2"), http.StatusForbidden},
		{"dockerd's own update", http.MethodPost, "/v1.41/services/" + scaled + "/update?version=1", http.StatusForbidden},
	}
	for _, tt := range tests {
		code, body, err := dockerAPICall(withCert, tt.method, tt.target)
		if err != nil || code != tt.want {
			t.Errorf("%s: %s %s = %d %v %.200q; want %d", tt.name, tt.method, tt.target, code, err, body, tt.want)
		}
	}
	after := inspectSpec(t, scaled)
	if n := after.Mode.Replicated; n == nil || n.Replicas == nil || *n.Replicas != 2 {
		t.Fatalf("%s after the scale call: mode %+v, want 2 replicas", scaled, after.Mode)
	}
	// Nothing but the count changed.
	after.Mode, before.Mode = swarm.ServiceMode{}, swarm.ServiceMode{}
	a, _ := json.Marshal(after)
	b, _ := json.Marshal(before)
	if string(a) != string(b) {
		t.Errorf("the scale call changed more than the count:\nbefore %s\nafter  %s", b, a)
	}
	for _, svc := range []string{unscaled, plain} {
		if n := inspectSpec(t, svc).Mode.Replicated; n == nil || n.Replicas == nil || *n.Replicas != 1 {
			t.Errorf("%s: mode %+v after a refused scale call, want 1 replica", svc, n)
		}
	}
}

// inspectSpec is a service's spec, as the engine has it.
func inspectSpec(t *testing.T, service string) swarm.ServiceSpec {
	t.Helper()
	var svcs []swarm.Service
	if err := json.Unmarshal([]byte(mustDocker(t, "service", "inspect", service)), &svcs); err != nil || len(svcs) != 1 {
		t.Fatalf("docker service inspect %s: %v", service, err)
	}
	return svcs[0].Spec
}

// testDockerAPIKeepsSecrets deploys a routed service and an unrouted one,
// both with a random secret in their environment, labels and container
// labels, and checks that nothing a gateway's certificate can read through
// docker-api contains it, while the gateway still routes every labelled
// service.
func testDockerAPIKeepsSecrets(t *testing.T) {
	secret := randomSecret(t)
	routed, plain := stackName+"_leakcheck", stackName+"_leakcheck_plain"
	for _, svc := range []struct {
		name   string
		labels []string
	}{
		{routed, []string{"faas.enable=true", "faas.path=/leakcheck", "faas.port=8080", "note=" + secret}},
		{plain, []string{"note=" + secret}},
	} {
		createMultiply(t, svc.name, svc.labels, "--env", "SECRET_TOKEN="+secret, "--container-label", "note="+secret)
	}
	// The secret is there to leak: the engine itself shows it.
	if out := mustDocker(t, "service", "inspect", routed); !strings.Contains(out, "SECRET_TOKEN="+secret) {
		t.Fatalf("docker service inspect %s does not show the secret; the check below would prove nothing", routed)
	}

	eventually(t, "the gateway routes the new labelled service", time.Minute, func() error {
		return answers35("/leakcheck")
	})
	if err := answers35("/multiply"); err != nil {
		t.Errorf("multiply is not routed any more: %v", err)
	}

	withCert := dockerAPIClient(t, true)
	filter := func(f string) string { return url.Values{"filters": {f}}.Encode() }
	reads := []string{
		"/v1.41/services",
		"/v1.41/services?status=true",
		"/v1.41/services?" + filter(`{"label":["faas.enable"]}`) + "&status=true",
		"/v1.41/services?" + filter(`{"name":["`+plain+`"]}`),
		"/v1.41/services?" + filter(`{"label":["note"]}`),
		"/services",
		"/v1.41/tasks",
		"/v1.41/tasks?" + filter(`{"desired-state":["running"]}`),
		"/v1.41/tasks?" + filter(`{"service":["`+routed+`"]}`),
		"/tasks",
		"/v1.41/containers/json",
		"/v1.41/containers/json?" + filter(`{"label":["faas.enable"],"status":["running"]}`),
		"/v1.41/networks",
		"/v1.41/networks?" + filter(`{"driver":["overlay"]}`),
		"/v1.41/version",
		"/v1.41/_ping",
	}
	var servicesBody, tasksBody string
	for _, target := range reads {
		code, body, err := dockerAPICall(withCert, http.MethodGet, target)
		switch {
		case err != nil || code != http.StatusOK:
			t.Errorf("GET %s: %d %v %.200s", target, code, err, body)
		case strings.Contains(body, secret):
			t.Errorf("GET %s: the secret left the manager", target)
		}
		switch target {
		case "/v1.41/services?status=true":
			servicesBody = body
		case "/v1.41/tasks":
			tasksBody = body
		}
	}

	// A hidden service's tasks look like a missing service's.
	_, missing, _ := dockerAPICall(withCert, http.MethodGet, "/v1.41/tasks?"+filter(`{"service":["`+stackName+`_nope"]}`))
	code, hidden, err := dockerAPICall(withCert, http.MethodGet, "/v1.41/tasks?"+filter(`{"service":["`+plain+`"]}`))
	if err != nil || code != http.StatusNotFound || hidden != strings.ReplaceAll(missing, stackName+"_nope", plain) {
		t.Errorf("tasks of the unlabelled %s: %d %v %q; of a missing service: %q", plain, code, err, hidden, missing)
	}
	t.Run("events carry only labelled services", func(t *testing.T) { testDockerAPIEvents(t, routed, plain) })

	// The answers are not empty: the routed service and its task are there,
	// the unlabelled service is not.
	var services []swarm.Service
	if err := json.Unmarshal([]byte(servicesBody), &services); err != nil {
		t.Fatalf("decoding the services: %v", err)
	}
	ids := map[string]string{}
	for _, s := range services {
		ids[s.Spec.Name] = s.ID
	}
	if ids[routed] == "" || ids[stackName+"_multiply"] == "" {
		t.Errorf("docker-api lists %v, want %s and %s_multiply among them", ids, routed, stackName)
	}
	if _, ok := ids[plain]; ok {
		t.Errorf("docker-api lists the unlabelled service %s", plain)
	}
	var tasks []swarm.Task
	if err := json.Unmarshal([]byte(tasksBody), &tasks); err != nil {
		t.Fatalf("decoding the tasks: %v", err)
	}
	found := false
	for _, tk := range tasks {
		found = found || tk.ServiceID == ids[routed]
	}
	if !found {
		t.Errorf("docker-api lists no task of %s", routed)
	}
}

// testDockerAPIEvents updates a labelled and an unlabelled service while
// it reads /events through docker-api, and checks that only the labelled
// one's event comes, trimmed to type, action, actor ID and time.
func testDockerAPIEvents(t *testing.T, routed, plain string) {
	ids := map[string]string{}
	for _, name := range []string{routed, plain} {
		ids[name] = strings.TrimSpace(mustDocker(t, "service", "inspect", "--format", "{{.ID}}", name))
	}
	c := dockerAPIClient(t, true)
	c.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/v1.41/events", dockerAPIPort), nil)
	req.Header.Set("User-Agent", testUserAgent)
	req.Host = "localhost"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %s", resp.Status)
	}
	// The unlabelled service first: its event would come before the other's.
	mustDocker(t, "service", "update", "--detach", "--label-add", "e2e.events=1", plain)
	mustDocker(t, "service", "update", "--detach", "--label-add", "e2e.events=1", routed)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var e struct {
			Type, Action string
			Actor        struct{ ID string }
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		for _, leak := range []string{plain, ids[plain], "Attributes", "image", "scope"} {
			if strings.Contains(line, leak) {
				t.Errorf("event %q carries %q", line, leak)
			}
		}
		if e.Type == "service" && e.Actor.ID == ids[routed] {
			return // the labelled one's event came, after the other's would have
		}
	}
	t.Fatalf("no event of the labelled %s in a minute: %v", routed, sc.Err())
}

// answers35 asks the multiply replica behind prefix for 10+25 through the gateway.
func answers35(prefix string) error {
	code, body, err := get(prefix + "/api/v1/add?x=10&y=25")
	if err != nil {
		return err
	}
	var r loadgen.Reply
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Data.Result != 35 {
		return fmt.Errorf("status %d: %q", code, body)
	}
	return nil
}

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "e2e-" + hex.EncodeToString(b)
}

// checkDockerAPILog reads docker-api's access log, a record of every call
// the gateway made through the scenarios, and fails on any call outside the
// allowlist (dockerapi.Allowlist), or refused.
func checkDockerAPILog(t *testing.T) {
	out := serviceLogs(t, stackName+"_docker-api", time.Time{})
	calls := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
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
		path, _, _ := strings.Cut(entry.Request.URI, "?")
		calls[entry.Request.Method+" "+path]++
		if !dockerapi.Allows(entry.Request.Method, path) || entry.Status == http.StatusForbidden || entry.Status == http.StatusBadRequest {
			t.Errorf("the gateway called %s %s (status %d): outside the allowlist", entry.Request.Method, entry.Request.URI, entry.Status)
		}
	}
	if len(calls) == 0 {
		t.Error("docker-api logged no call from the gateway")
	}
	t.Logf("Docker API calls the gateway made through docker-api: %v", calls)
}
