package peers

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/testca"
)

const goodReport = `{"gateway":"rogue","services":{"docker/svc":{"in_flight":500,"requests":1}}}`

// TestPeerCertificateAndReportChecked runs a peer that the poller must
// refuse (or, for the control, accept): it sits at a lower address than the
// gateway, so if it were believed it would also take the decision.
func TestPeerCertificateAndReportChecked(t *testing.T) {
	s := newSwarm(t, 50*time.Millisecond)
	other := testca.New(t, "another CA")
	tests := []struct {
		name   string
		cert   func() tls.Certificate
		status int
		body   string
		accept bool
		asked  bool // whether the peer gets as far as a request
	}{
		{"gateway certificate (control)", func() tls.Certificate {
			return s.ca.IssueTLS(t, "peer", testca.Both, "faas-gateway")
		}, 200, goodReport, true, true},
		{"certificate of another CA", func() tls.Certificate {
			return other.IssueTLS(t, "forger", testca.Both, "faas-gateway")
		}, 200, goodReport, false, false},
		{"docker-api's certificate (same CA, not a gateway)", func() tls.Certificate {
			return s.ca.IssueTLS(t, "docker-api", testca.Server, "docker-api", "tasks.docker-api", "localhost")
		}, 200, goodReport, false, false},
		{"client-only certificate, as certs.sh makes it now", func() tls.Certificate {
			return s.ca.IssueTLS(t, "faas-gateway", testca.Client)
		}, 200, goodReport, false, false},
		{"gateway certificate without the name", func() tls.Certificate {
			return s.ca.IssueTLS(t, "faas-gateway", testca.Both)
		}, 200, goodReport, false, false},
		{"absurd report", func() tls.Certificate {
			return s.ca.IssueTLS(t, "peer", testca.Both, "faas-gateway")
		}, 200, `{"gateway":"rogue","services":{"docker/svc":{"in_flight":-3}}}`, false, true},
		{"unknown field", func() tls.Certificate {
			return s.ca.IssueTLS(t, "peer", testca.Both, "faas-gateway")
		}, 200, `{"gateway":"rogue","Replicas":100}`, false, true},
		{"oversized report", func() tls.Certificate {
			return s.ca.IssueTLS(t, "peer", testca.Both, "faas-gateway")
		}, 200, `{"gateway":"` + strings.Repeat("r", maxBody) + `"}`, false, true},
		{"error status", func() tls.Certificate {
			return s.ca.IssueTLS(t, "peer", testca.Both, "faas-gateway")
		}, 500, goodReport, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked atomic.Int64
			peer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			ln, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.4"), s.port).String())
			if err != nil {
				t.Fatal(err)
			}
			peer.Listener = ln
			peer.TLS = &tls.Config{Certificates: []tls.Certificate{tt.cert()}}
			peer.StartTLS()
			defer peer.Close()

			s.setAnswer(addrs("127.0.0.4", "127.0.0.5"), nil)
			g := s.start(t, s.config(t, netip.MustParseAddr("127.0.0.5")))
			waitFor(t, 2*time.Second, "three polls", func() bool { return g.polls() >= 3 })
			got := gateways(g.Reports())
			if tt.accept {
				if !slices.Equal(got, []string{"rogue"}) || g.Leader() {
					t.Errorf("reports of %v, leader %v: want the peer's report, and the peer to decide", got, g.Leader())
				}
			} else if len(got) != 0 || !g.Leader() {
				t.Errorf("reports of %v, leader %v: want the peer refused", got, g.Leader())
			}
			if (asked.Load() > 0) != tt.asked {
				t.Errorf("the peer was asked %d times, want asked = %v", asked.Load(), tt.asked)
			}
			g.Stop()
		})
	}
}

// TestClientCertificateRequired asks a gateway for its report as clients
// with various certificates: only a gateway's gets it.
func TestClientCertificateRequired(t *testing.T) {
	s := newSwarm(t, time.Second)
	s.setAnswer(addrs("127.0.0.1"), nil)
	s.start(t, s.config(t, netip.MustParseAddr("127.0.0.1")))
	url := "https://" + netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.port).String() + reportPath
	other := testca.New(t, "another CA")
	tests := []struct {
		name  string
		certs func() []tls.Certificate
		ok    bool
	}{
		{"gateway certificate (control)", func() []tls.Certificate {
			return []tls.Certificate{s.ca.IssueTLS(t, "client", testca.Both, "faas-gateway")}
		}, true},
		{"no certificate", func() []tls.Certificate { return nil }, false},
		{"certificate of another CA", func() []tls.Certificate {
			return []tls.Certificate{other.IssueTLS(t, "forger", testca.Both, "faas-gateway")}
		}, false},
		{"docker-api's certificate (server usage only)", func() []tls.Certificate {
			return []tls.Certificate{s.ca.IssueTLS(t, "docker-api", testca.Server, "docker-api")}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs:      s.ca.Pool(),
				ServerName:   "faas-gateway",
				Certificates: tt.certs(),
			}}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s, want the handshake refused", resp.Status)
				}
				if !strings.Contains(err.Error(), "tls: ") {
					t.Fatalf("error %v, want a TLS refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rep, err := decodeReport(resp.Body)
			if err != nil || rep.Gateway != "127.0.0.1" {
				t.Fatalf("report %+v, %v; want 127.0.0.1's", rep, err)
			}
		})
	}
}
