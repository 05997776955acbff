package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The HTTPS test stack: https/stack.yml with testdata/https.yml.
var (
	acmeSv     = stackName + "_acme"
	dataVolume = stackName + "_caddy_data" // https/stack.yml's caddy_data
)

const (
	siteHost = "app.test" // multiply's faas.host (SITE_HOST)
	// The CA's ACME directory, as the gateway's acme_ca names it.
	acmeDirectory = "https://acme.test/acme/test/directory"
	// The request path of a new order in the CA's access log.
	newOrderURI = `"uri":"/acme/test/new-order"`
)

// TestHTTPS proves the HTTPS stack end to end with a real ACME exchange,
// offline: the stack runs a certificate authority (Caddy's acme_server,
// with a root this test makes), the gateway's issuer points at it, and
// multiply claims app.test. A claimed host gets a certificate the CA
// issued; an unclaimed one gets none and the CA sees no order; a restarted
// gateway serves the stored certificate without a new order; a host that
// stops being claimed gets no new certificate.
func TestHTTPS(t *testing.T) {
	requireSwarm(t)
	dir := t.TempDir()
	roots := makeACMERoot(t, dir)
	gatewayCaddyfile := filepath.Join(dir, "gateway.Caddyfile")
	writeGatewayCaddyfile(t, gatewayCaddyfile)
	for k, v := range map[string]string{
		"SITE_HOST":            siteHost,
		"HTTP_PORT":            fmt.Sprint(httpsHTTPPort),
		"HTTPS_PORT":           fmt.Sprint(httpsPort),
		"ACME_PORT":            fmt.Sprint(acmePort),
		"ACME_ROOT_DIR":        dir,
		"HTTPS_TEST_CADDYFILE": gatewayCaddyfile,
	} {
		t.Setenv(k, v)
	}
	// Certificates of an earlier run (from another root) must not be found:
	// the volume goes before the stack is deployed and after it is removed
	// (this cleanup is registered first, so it runs last).
	removeStack(t)
	removeVolume(t, dataVolume)
	t.Cleanup(func() { removeVolume(t, dataVolume) })
	deployStack(t, "https/stack.yml", "e2e/testdata/https.yml")

	eventually(t, "the CA serves its directory", 3*time.Minute, func() error {
		c := pinnedClient(roots, acmePort, 5*time.Second)
		_, err := getStatus(c, "https://acme.test/acme/test/directory", http.StatusOK)
		return err
	})
	eventually(t, "the gateway redirects app.test to HTTPS", 3*time.Minute, func() error {
		return redirected(siteHost, true)
	})

	var first *x509.Certificate
	var orders int
	if !t.Run("claimed host: a certificate from the in-stack CA", func(t *testing.T) {
		// The first handshake waits for the ACME exchange: a long timeout.
		c := pinnedClient(roots, httpsPort, 60*time.Second)
		var resp *http.Response
		eventually(t, "200 over HTTPS from app.test", 3*time.Minute, func() (err error) {
			resp, err = getAdd(c, siteHost)
			return err
		})
		first = resp.TLS.PeerCertificates[0]
		checkIssuedByCA(t, resp.TLS.PeerCertificates, roots, siteHost)
		orders = caOrders(t)
		if orders < 1 {
			t.Errorf("the CA's log has %d new orders, want at least 1", orders)
		}
		t.Logf("certificate for %v, serial %x, issued by %q; the CA saw %d new order(s)",
			first.DNSNames, first.SerialNumber, first.Issuer.CommonName, orders)
	}) {
		t.FailNow()
	}

	t.Run("plain HTTP: claimed hosts redirected, others not", func(t *testing.T) {
		if err := redirected(siteHost, true); err != nil {
			t.Error(err)
		}
		if err := redirected("unclaimed.test", false); err != nil {
			t.Error(err)
		}
	})

	t.Run("unclaimed host: no certificate, no order", func(t *testing.T) {
		since := time.Now()
		refused(t, roots, "unclaimed.test")
		if n := caOrders(t); n != orders {
			t.Errorf("the CA saw %d new orders, want %d (none for unclaimed.test)", n, orders)
		}
		if lines := obtaining(serviceLogs(t, gatewaySv, since), "unclaimed.test"); len(lines) > 0 {
			t.Errorf("the gateway tried to obtain a certificate for unclaimed.test:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("gateway restart: the stored certificate, no new order", func(t *testing.T) {
		old := runningContainers(t, gatewaySv)
		mustDocker(t, "service", "update", "--detach", "--force", gatewaySv)
		c := pinnedClient(roots, httpsPort, 10*time.Second)
		eventually(t, "a new gateway container serves app.test over HTTPS", 3*time.Minute, func() error {
			now := runningContainers(t, gatewaySv)
			if len(now) == 0 || slices.ContainsFunc(now, func(id string) bool { return slices.Contains(old, id) }) {
				return fmt.Errorf("running gateway containers %v, the old ones %v", now, old)
			}
			resp, err := getAdd(c, siteHost)
			if err != nil {
				return err
			}
			if got := resp.TLS.PeerCertificates[0]; !got.Equal(first) {
				return fmt.Errorf("serves the certificate with serial %x, want the stored one, %x", got.SerialNumber, first.SerialNumber)
			}
			return nil
		})
		if n := caOrders(t); n != orders {
			t.Errorf("the CA saw %d new orders, want still %d", n, orders)
		}
	})

	t.Run("label change: a host added gets a certificate, a host removed gets none", func(t *testing.T) {
		mustDocker(t, "service", "update", "--detach", "--label-add", "faas.host=app.test,second.test,third.test", multiplySv)
		for _, h := range []string{"second.test", "third.test"} {
			eventually(t, h+" claimed (redirected to HTTPS)", time.Minute, func() error { return redirected(h, true) })
		}
		c := pinnedClient(roots, httpsPort, 60*time.Second)
		var resp *http.Response
		eventually(t, "200 over HTTPS from second.test, with no reload", 3*time.Minute, func() (err error) {
			resp, err = getAdd(c, "second.test")
			return err
		})
		checkIssuedByCA(t, resp.TLS.PeerCertificates, roots, "second.test")
		if n := caOrders(t); n <= orders {
			t.Errorf("the CA saw %d new orders, want more than %d (one for second.test)", n, orders)
		} else {
			orders = n
		}

		since := time.Now()
		mustDocker(t, "service", "update", "--detach", "--label-add", "faas.host=app.test", multiplySv)
		for _, h := range []string{"second.test", "third.test"} {
			eventually(t, h+" no longer claimed (not redirected)", time.Minute, func() error { return redirected(h, false) })
		}
		// third.test was claimed, but never got a certificate: now it gets none.
		refused(t, roots, "third.test")
		if n := caOrders(t); n != orders {
			t.Errorf("the CA saw %d new orders, want still %d (none for third.test)", n, orders)
		}
		if lines := obtaining(serviceLogs(t, gatewaySv, since), "third.test"); len(lines) > 0 {
			t.Errorf("the gateway tried to obtain a certificate for third.test after its label was removed:\n%s", strings.Join(lines, "\n"))
		}
		// second.test's certificate may stay (in memory until renewal);
		// either way, it no longer routes to multiply.
		if _, err := getAdd(c, "second.test"); err == nil {
			t.Error("second.test still reaches multiply after its label was removed")
		} else {
			t.Logf("second.test after its label was removed: %v", err)
		}
		if _, err := getAdd(c, siteHost); err != nil {
			t.Errorf("app.test after the label change: %v", err)
		}
	})
}

// makeACMERoot writes the CA's root certificate and key to dir (root.crt,
// root.key), and returns a pool with the root. The CA (acme.Caddyfile)
// signs with an intermediate it makes from them.
func makeACMERoot(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "faas-gateway e2e ACME root " + serial.Text(16)[:8]},
		NotBefore:    time.Now().Add(-time.Hour),
		// Longer than the intermediate Caddy makes (7 days).
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"root.crt": {Type: "CERTIFICATE", Bytes: der},
		"root.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return pool
}

// writeGatewayCaddyfile writes https/Caddyfile with the gateway's issuer
// pointed at the in-stack CA: acme_ca and acme_ca_root added to its global
// options, and nothing else changed.
func writeGatewayCaddyfile(t *testing.T, file string) {
	t.Helper()
	src, err := os.ReadFile("../https/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const global = "\n{\n"
	if !strings.Contains(string(src), global) {
		t.Fatal("https/Caddyfile: no global options block (a line with only `{`)")
	}
	issuer := fmt.Sprintf("\tacme_ca %s\n\tacme_ca_root /run/secrets/acme_root.crt\n", acmeDirectory)
	out := strings.Replace(string(src), global, global+issuer, 1)
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeVolume removes a volume if it exists, waiting for the containers
// that used it to be gone.
func removeVolume(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := docker(t, 30*time.Second, "volume", "rm", "--force", name)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("removing volume %s: %v", name, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// runningContainers lists the IDs of a service's running containers here.
func runningContainers(t *testing.T, service string) []string {
	t.Helper()
	out, err := docker(t, 30*time.Second, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+service)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// caOrders counts the new orders in the CA's access log.
func caOrders(t *testing.T) int {
	t.Helper()
	return strings.Count(serviceLogs(t, acmeSv, time.Time{}), newOrderURI)
}

// obtaining returns the lines of a gateway log in which it sets out to
// obtain a certificate for name ("obtaining new certificate",
// "obtaining certificate").
func obtaining(log, name string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "obtaining") && strings.Contains(l, `"`+name+`"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// pinnedClient is an HTTPS client that trusts only roots and sends every
// request to 127.0.0.1:port whatever its host (curl --resolve), each on a
// new connection, so that every request makes a TLS handshake.
func pinnedClient(roots *x509.CertPool, port int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// getStatus sends a GET and checks its status; it returns the response,
// its body read and closed.
func getStatus(c *http.Client, url string, want int) (*http.Response, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("GET %s: status %d, want %d: %s", url, resp.StatusCode, want, body)
	}
	if strings.Contains(url, "/api/v1/add") {
		var r loadgen.Reply
		if err := json.Unmarshal(body, &r); err != nil || r.Data.Result != 3 {
			return nil, fmt.Errorf("GET %s: %q, want 1+2=3 from multiply", url, body)
		}
	}
	return resp, nil
}

// getAdd asks multiply for 1+2 over HTTPS at host.
func getAdd(c *http.Client, host string) (*http.Response, error) {
	return getStatus(c, "https://"+host+"/multiply/api/v1/add?x=1&y=2", http.StatusOK)
}

// redirected checks whether a plain HTTP request for host is redirected to
// the same URL over HTTPS (want) or not.
func redirected(host string, want bool) error {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/multiply/api/v1/add?x=1&y=2", httpsHTTPPort), nil)
	if err != nil {
		return err
	}
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	wantLocation := "https://" + host + "/multiply/api/v1/add?x=1&y=2"
	got := resp.StatusCode == http.StatusPermanentRedirect && resp.Header.Get("Location") == wantLocation
	if got != want {
		return fmt.Errorf("http://%s: status %d, Location %q; want a 308 to %s: %v", host, resp.StatusCode, resp.Header.Get("Location"), wantLocation, want)
	}
	return nil
}

// refused checks that a TLS handshake for name fails on the gateway's side.
func refused(t *testing.T, roots *x509.CertPool, name string) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: name, RootCAs: roots})
	if err == nil {
		conn.Close()
		t.Fatalf("TLS handshake for %s succeeded, want no certificate", name)
	}
	var alert tls.AlertError
	if !errors.As(err, &alert) && !strings.Contains(err.Error(), "remote error") {
		t.Errorf("TLS handshake for %s: %v, want the gateway's alert", name, err)
	}
	t.Logf("TLS handshake for %s: %v", name, err)
}

// checkIssuedByCA checks that a served chain is for host and leads, through
// the CA's intermediate, to the root this test made: the in-stack CA
// issued it.
func checkIssuedByCA(t *testing.T, chain []*x509.Certificate, roots *x509.CertPool, host string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	verified, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	if err != nil {
		t.Fatalf("the certificate for %s does not chain to the test root: %v", host, err)
	}
	if n := len(verified[0]); n != 3 {
		t.Errorf("chain of %d certificates, want 3 (leaf, the CA's intermediate, the test root)", n)
	}
}
