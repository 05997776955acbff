// Tests of the docker_api_filter directive, and of docker-api/Caddyfile
// itself, run in-process with mutual TLS in front of a stand-in dockerd.

package dockerapi

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        string // label prefix
		wantErr     string
	}{
		{name: "defaults", input: `docker_api_filter`, want: ""},
		{name: "empty block", input: "docker_api_filter {\n}", want: ""},
		{name: "label_prefix", input: "docker_api_filter {\n label_prefix acme\n}", want: "acme"},
		{name: "argument", input: `docker_api_filter acme`, wantErr: "wrong argument count"},
		{name: "label_prefix without value", input: "docker_api_filter {\n label_prefix\n}", wantErr: "wrong argument count"},
		{name: "label_prefix twice", input: "docker_api_filter {\n label_prefix a\n label_prefix b\n}", wantErr: "already been specified"},
		{name: "unknown option", input: "docker_api_filter {\n allow /containers\n}", wantErr: "unrecognized docker_api_filter option 'allow'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Filter
			err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case f.LabelPrefix != tt.want:
				t.Errorf("label_prefix %q, want %q", f.LabelPrefix, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for prefix, ok := range map[string]bool{"faas": true, "com.acme.faas": true, "faas.": false, "fa as": false, "a=b": false} {
		if err := (&Filter{LabelPrefix: prefix}).Validate(); (err == nil) != ok {
			t.Errorf("label_prefix %q: error %v, want ok=%v", prefix, err, ok)
		}
	}
}

// TestDockerAPICaddyfile runs docker-api/Caddyfile as shipped, with only
// its upstream pointed at a stand-in dockerd: mutual TLS, the filter
// before reverse_proxy, and /events streamed.
func TestDockerAPICaddyfile(t *testing.T) {
	d := newFakeDockerd(t)
	certs := makeTestCerts(t)
	port := freePort(t)
	t.Setenv("DOCKER_API_TLS_DIR", certs.dir)
	t.Setenv("DOCKER_API_PORT", strconv.Itoa(port))
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())

	src, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const socket = "unix//var/run/docker.sock"
	if n := strings.Count(string(src), socket); n != 1 {
		t.Fatalf("docker-api/Caddyfile names %s %d times, want once", socket, n)
	}
	src = []byte(strings.Replace(string(src), socket, strings.TrimPrefix(d.URL, "http://"), 1))
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting docker-api/Caddyfile: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapting docker-api/Caddyfile: %s", w.String())
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading docker-api/Caddyfile: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })

	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	withCert, noCert := certs.client(true), certs.client(false)
	request := func(c *http.Client, method, target string) (*http.Response, error) {
		req, err := http.NewRequest(method, base+target, nil)
		if err != nil {
			return nil, err
		}
		req.Host = "localhost"
		return c.Do(req)
	}

	tests := []struct {
		name           string
		client         *http.Client
		method, target string
		want           int // 0: the TLS handshake fails
		check          func(t *testing.T, body []byte)
	}{
		{"ping", withCert, "HEAD", "/_ping", 200, nil},
		{"services, trimmed", withCert, "GET", "/v1.41/services?status=true", 200, func(t *testing.T, body []byte) {
			if got := decode[swarm.Service](t, body); len(got) != 2 || got[0].Spec.Name != "faas_multiply" {
				t.Errorf("got %+v, want the two labelled services", got)
			}
		}},
		{"tasks, of labelled services", withCert, "GET", "/v1.41/tasks", 200, func(t *testing.T, body []byte) {
			for _, tk := range decode[swarm.Task](t, body) {
				if tk.ServiceID == "q2lz9q9t0s0w0b6b5e6o1l7m4" {
					t.Errorf("task %s of the unlabelled service left the manager", tk.ID)
				}
			}
		}},
		{"networks", withCert, "GET", "/networks", 200, nil},
		{"service create", withCert, "POST", "/v1.41/services/create", 403, nil},
		{"containers, labelled only", withCert, "GET", "/v1.41/containers/json", 200, func(t *testing.T, body []byte) {
			for _, c := range decode[container.Summary](t, body) {
				if c.Labels["faas.enable"] != "true" {
					t.Errorf("container %s without the opt-in label left the manager", c.ID)
				}
			}
		}},
		{"container create", withCert, "POST", "/v1.41/containers/create", 403, nil},
		{"encoded path", withCert, "GET", "/v1.41%2Fservices", 400, nil},
		{"double slash", withCert, "GET", "//services", 400, nil},
		{"no client certificate", noCert, "GET", "/v1.41/services", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := request(tt.client, tt.method, tt.target)
			if tt.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d, want the TLS handshake refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: %d %q, want %d", tt.method, tt.target, resp.StatusCode, body, tt.want)
			}
			if strings.Contains(string(body), secretMark) {
				t.Errorf("a secret left the manager: %s", body)
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}

	t.Run("events stream", func(t *testing.T) {
		// A type the gateway never reads (image), in place of which
		// docker-api asks for the types it does.
		resp, err := request(withCert, "GET", `/v1.41/events?filters=%7B%22type%22%3A%5B%22image%22%5D%7D`)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// dockerd holds the stream open: the event must come before its end.
		line := make(chan string, 1)
		go func() {
			s, _ := bufio.NewReader(resp.Body).ReadString('\n')
			line <- s
		}()
		select {
		case s := <-line:
			if !strings.Contains(s, `"Type":"service"`) {
				t.Errorf("got %q, want the service event", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event while the stream is open: /events is buffered")
		}
		if q := d.lastCallTo("/events").Query().Get("filters"); strings.Contains(q, "image") {
			t.Errorf("dockerd got filters %s, want the client's type filter replaced", q)
		}
	})
}

// testCerts are a CA, docker-api's server certificate and a gateway's
// client certificate, as `make certs` makes them.
type testCerts struct {
	dir    string
	pool   *x509.CertPool
	client func(withCert bool) *http.Client
}

func makeTestCerts(t *testing.T) testCerts {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := issue(2, x509.ExtKeyUsageServerAuth)
	clientDER, clientKey := issue(3, x509.ExtKeyUsageClientAuth)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
	writePEM(t, filepath.Join(dir, "server-cert.pem"), "CERTIFICATE", serverDER)
	writePEM(t, filepath.Join(dir, "server-key.pem"), "EC PRIVATE KEY", marshalKey(t, serverKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	clientPair := tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey}
	return testCerts{dir: dir, pool: pool, client: func(withCert bool) *http.Client {
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
		if withCert {
			cfg.Certificates = []tls.Certificate{clientPair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
