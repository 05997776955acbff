package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The test stack's name: faastest, or E2E_STACK's (`make soak` runs stack
// soak), so that a stack deployed with `make up`, or another test run's,
// keeps running beside it.
var (
	stackName  = envOr("E2E_STACK", "faastest")
	multiplySv = stackName + "_multiply"
	gatewaySv  = stackName + "_gateway"
	// testsvcSv is testsvc in TestPolicies (testdata/policies.yml), whose
	// gRPC route claims grpcHost (its GRPC_HOST).
	testsvcSv = stackName + "_testsvc"
)

// Test stack settings: ports of their own, so that a stack deployed with
// `make up` keeps running beside the tests. The stack files read the ports
// from the environment deployStack gives them (stackEnv): each is written
// here only.
const (
	gatewayPort   = 18081 // the gateway under test (stack.yml's GATEWAY_PORT)
	refPort       = 18082 // the reference, stock Caddy with dynamic a (testdata/reference.yml)
	staticPort    = 18083 // the bench's baseline, stock Caddy with static upstreams (created by the bench)
	svcnamePort   = 18084 // stock Caddy proxying to the service name (testdata/bench.yml)
	untunedPort   = 18085 // the bench's gateway without the tuning (created by the bench)
	pgoPort       = 18086 // the bench's shipped gateway built with PGO (created by the bench)
	gcOnlyPort    = 18087 // the bench's untuned gateway with the shipped GC settings (created by the bench)
	lazyOnlyPort  = 18091 // the bench's untuned gateway with the shipped log encoder (created by the bench)
	barePort      = 18092 // the bench's ceiling, Go's httputil reverse proxy (created by the bench)
	gcPort        = 18100 // the bench's BENCH_GC contenders, one port each from here (created by the bench)
	caddyfilePort = 18120 // the bench's BENCH_CADDYFILES contenders, one port each from here (created by the bench)
	imagePort     = 18140 // the bench's BENCH_IMAGES contenders, one port each from here (created by the bench)
	directPort    = 18090 // one multiply replica, no proxy (testdata/bench.yml)
	observePort   = 18088 // the gateway's metrics and status page (testdata/observe.yml)
	noMetricsPort = 18089 // the bench's gateway with metrics off (created by the bench)
	traefikPort   = 18094 // the bench's Traefik, when TRAEFIK_IMAGE is built (created by the bench)
	twinPort      = 18095 // the bench's baseline again, its A/A pair (created by the bench)

	httpsHTTPPort = 18480 // the HTTPS stack's plain HTTP (https/stack.yml's HTTP_PORT)
	httpsPort     = 18443 // the HTTPS stack's HTTPS (https/stack.yml's HTTPS_PORT)
	acmePort      = 18444 // its certificate authority (testdata/https.yml's ACME_PORT)

	// scenarioHost is the host route multiply claims in the scenarios
	// (testdata/scenarios.yml's SCENARIO_HOST), which their load goes through.
	scenarioHost = "multiply.test"

	// grpcHost is the gRPC route of testsvc in TestPolicies.
	grpcHost = "grpc.test"
)

var (
	gatewayImage  = envOr("GATEWAY_IMAGE", "faas-gateway/gateway:latest")
	multiplyImage = envOr("MULTIPLY_IMAGE", "faas-gateway/multiply:latest")
	testsvcImage  = envOr("TESTSVC_IMAGE", "faas-gateway/testsvc:latest")
	// pgoImage is the gateway built from the same source with
	// profile-guided optimisation (`make gateway-image-pgo`).
	pgoImage = envOr("GATEWAY_PGO_IMAGE", gatewayImage+"-pgo")
	// bareproxyImage is cmd/bareproxy, the full bench's ceiling (`make
	// bareproxy-image`).
	bareproxyImage = envOr("BAREPROXY_IMAGE", "faas-gateway/bareproxy:latest")
	baseURL        = localURL(gatewayPort)
)

// localURL is the base URL of a port published on this node.
func localURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// unavailable skips the test, or fails it under CI, where a missing
// prerequisite is a broken build rather than a machine without Docker.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("end-to-end prerequisite missing under CI: %s", msg)
	}
	t.Skipf("skipping end-to-end test: %s", msg)
}

// requireSwarm is the first call of every end-to-end test. Under -short
// (`make unit`) it skips before touching Docker, an explicit opt-out that
// holds under CI too; otherwise it checks for a Docker engine that is a
// swarm manager and for the two images.
func requireSwarm(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping end-to-end test under -short: it deploys stacks on Docker (run it with `make test`)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		unavailable(t, "no docker command on PATH")
	}
	state, err := docker(t, 20*time.Second, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	if err != nil {
		unavailable(t, "docker engine not reachable: %v", err)
	}
	if strings.TrimSpace(state) != "active true" {
		unavailable(t, "this engine is not a swarm manager (state %q): run `make swarm`", state)
	}
	for _, img := range []string{gatewayImage, multiplyImage} {
		if _, err := docker(t, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", img); err != nil {
			unavailable(t, "image %s not built: run `make images`", img)
		}
	}
}

// docker runs the docker CLI and returns its standard output.
func docker(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t, 2*time.Minute, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// removeStack removes the test stack and waits until it is gone.
func removeStack(t *testing.T) {
	t.Helper()
	cmd := exec.Command("../scripts/stack-rm.sh", stackName)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("removing stack %s: %v\n%s", stackName, err, out)
	}
}

// deployStack deploys the given compose files (paths from the repository
// root, merged in order) as the test stack, removing what a previous run
// left, and removes it again when the test ends, pass or fail.
func deployStack(t *testing.T, files ...string) {
	t.Helper()
	removeStack(t)
	t.Cleanup(func() {
		if t.Failed() {
			dumpState(t)
		}
		removeStack(t)
	})
	args := []string{"stack", "deploy", "--resolve-image", "never"}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	cmd := exec.Command("docker", append(args, stackName)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), stackEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
}

// stackEnv is what the stack files read: stack.yml and stack.cluster.yml
// take the gateway's port and the images, the e2e/testdata overlays
// require every variable they use, so that no port or name is written twice.
func stackEnv() []string {
	return []string{
		"GATEWAY_IMAGE=" + gatewayImage,
		"MULTIPLY_IMAGE=" + multiplyImage,
		"TESTSVC_IMAGE=" + testsvcImage,
		"GRPC_HOST=" + grpcHost,
		"MULTIPLY_SERVICE=" + multiplySv,
		"CERTS_DIR=" + certsDir,
		fmt.Sprintf("GATEWAY_PORT=%d", gatewayPort),
		fmt.Sprintf("REFERENCE_PORT=%d", refPort),
		"SCENARIO_HOST=" + scenarioHost,
		fmt.Sprintf("SVCNAME_PORT=%d", svcnamePort),
		fmt.Sprintf("DIRECT_PORT=%d", directPort),
		fmt.Sprintf("DOCKER_API_PORT=%d", dockerAPIPort),
		fmt.Sprintf("OBSERVE_PORT=%d", observePort),
	}
}

// createMultiply creates service name, one multiply replica on the test
// stack's network with the service labels and extra `docker service
// create` options given, and removes it when the test ends.
func createMultiply(t *testing.T, name string, labels []string, opts ...string) {
	t.Helper()
	args := append([]string{"service", "create", "--detach", "--name", name, "--network", stackName + "_net", "--replicas", "1"}, opts...)
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	mustDocker(t, append(args, multiplyImage)...)
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", name) })
}

// dumpState logs what a person would look at to see why a test failed.
func dumpState(t *testing.T) {
	out, err := docker(t, 30*time.Second, "stack", "ps", "--no-trunc", stackName)
	t.Logf("docker stack ps: %v\n%s", err, out)
	lines := strings.Split(serviceLogs(t, gatewaySv, time.Now().Add(-5*time.Minute)), "\n")
	t.Logf("the gateway's log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get sends one request through the gateway.
func get(path string) (int, string, error) { return getFrom(baseURL, path) }

// getFrom sends one GET to base+path.
func getFrom(base, path string) (int, string, error) {
	return getHost(base, "", path)
}

// getHost is getFrom with a Host header ("" for the URL's).
func getHost(base, host, path string) (int, string, error) {
	return getWith(httpClient, base, host, path)
}

// getWith is getHost with client c.
func getWith(c *http.Client, base, host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// add asks multiply for 10+25 through the gateway and returns the replica
// that answered.
func add() (string, error) {
	code, body, err := get("/multiply/api/v1/add?x=10&y=25")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", code, body)
	}
	var r loadgen.Reply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", fmt.Errorf("decoding %q: %w", body, err)
	}
	if r.Data.Result != 35 || r.Data.ServiceID == "" {
		return "", fmt.Errorf("wrong answer %q", body)
	}
	return r.Data.ServiceID, nil
}

// eventually calls f until it returns nil or the timeout passes, logging
// progress every 10 s, and fails the test with f's last error.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	lastLog := start
	for {
		err := f()
		if err == nil {
			t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("%s: still waiting (%v): %v", what, time.Since(start).Round(time.Second), err)
			lastLog = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShortSkipsBeforeDocker holds `make unit` (go test -short) to its
// promise: every end-to-end test skips under -short before it looks for
// Docker, even under CI=true, where a missing Docker fails the test.
func TestShortSkipsBeforeDocker(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks what -short does; `make unit` runs it")
	}
	t.Setenv("CI", "true")
	t.Setenv("PATH", "") // no docker command: any look for Docker fails under CI
	t.Run("requireSwarm", func(t *testing.T) {
		requireSwarm(t)
		t.Error("requireSwarm returned under -short instead of skipping")
	})
}
