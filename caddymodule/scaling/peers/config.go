package peers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
)

// Config says how the gateways find and trust each other.
type Config struct {
	// The name whose addresses are the gateways, resolved on every poll:
	// tasks.<gateway service> on the gateways' shared network (docker-api
	// hides the unlabelled gateway service, so DNS is the way). Required.
	Name string `json:"name,omitempty"`

	// The port every gateway serves its report on, and is polled on. It
	// need not be published: the gateways reach each other on their
	// shared network. Default: 8444
	Port uint16 `json:"port,omitempty"`

	// The address to listen on. Default: all addresses, on Port.
	Listen string `json:"listen,omitempty"`

	// This gateway's own addresses, by which it finds itself in the answer
	// for Name. Default: the addresses of this host's interfaces.
	Self []netip.Addr `json:"self,omitempty"`

	// The PEM file of the deployment's CA, which both ends' certificates
	// must chain to. Required.
	CAFile string `json:"ca_file,omitempty"`

	// The PEM files of this gateway's certificate and key, presented both
	// when serving and when polling. The certificate needs the serverAuth
	// and clientAuth usages and ServerName among its DNS names. Required.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`

	// The DNS name a peer's certificate must carry. Peers are dialled by
	// IP address, which their certificates cannot name (task addresses
	// change), so every gateway's certificate carries this one name.
	// Default: faas-gateway
	ServerName string `json:"server_name,omitempty"`

	// How often to resolve Name and fetch every peer's report. Default: 1s
	Interval time.Duration `json:"interval,omitempty"`

	// How many polls a silent peer stays live. Default: 3
	Misses int `json:"misses,omitempty"`

	// Resolve returns the addresses of a name. Default: the system
	// resolver. Tests replace it.
	Resolve func(ctx context.Context, name string) ([]netip.Addr, error) `json:"-"`

	// Logger logs peer failures (once per peer, not per poll). Default: none
	Logger *zap.Logger `json:"-"`
}

// Defaults.
const (
	defaultPort       = 8444
	defaultServerName = "faas-gateway"
	defaultInterval   = time.Second
	defaultMisses     = 3
)

// withDefaults returns c with its defaults filled in and checked.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, errors.New("peers: name is required")
	}
	if c.Port == 0 {
		c.Port = defaultPort
	}
	if c.CAFile == "" || c.CertFile == "" || c.KeyFile == "" {
		return c, errors.New("peers: ca_file, cert_file and key_file are required")
	}
	if c.Listen == "" {
		c.Listen = net.JoinHostPort("", fmt.Sprint(c.Port))
	}
	if c.ServerName == "" {
		c.ServerName = defaultServerName
	}
	if c.Interval == 0 {
		c.Interval = defaultInterval
	}
	if c.Interval < 0 {
		return c, fmt.Errorf("peers: interval %v is negative", c.Interval)
	}
	if c.Misses == 0 {
		c.Misses = defaultMisses
	}
	if c.Misses < 0 {
		return c, fmt.Errorf("peers: misses %d is negative", c.Misses)
	}
	if c.Resolve == nil {
		c.Resolve = func(ctx context.Context, name string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
		}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if len(c.Self) == 0 {
		self, err := interfaceAddrs()
		if err != nil {
			return c, err
		}
		c.Self = self
	}
	return c, nil
}

// liveFor is how long a silent peer stays live.
func (c Config) liveFor() time.Duration {
	return c.Interval * time.Duration(c.Misses)
}

// tlsConfigs loads the CA and this gateway's certificate, and returns the
// server's and the poller's TLS configurations.
func (c Config) tlsConfigs() (server, client *tls.Config, err error) {
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("peers: reading the CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("peers: no certificate in the CA file %s", c.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("peers: loading the gateway certificate: %w", err)
	}
	if err := c.checkOwn(cert, pool); err != nil {
		return nil, nil, err
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Verifies the chain and the clientAuth usage.
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Verifies the chain, the serverAuth usage and the name, whatever
		// address was dialled.
		RootCAs:    pool,
		ServerName: c.ServerName,
	}
	return server, client, nil
}

// checkOwn fails early, with the fix, when this gateway's own certificate
// is one its peers would refuse: not chained to the CA, or without the
// server name or either usage (as the gateways' certificate of an older
// scripts/certs.sh, made for docker-api only).
func (c Config) checkOwn(cert tls.Certificate, pool *x509.CertPool) error {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("peers: parsing the gateway certificate: %w", err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: c.ServerName, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			return fmt.Errorf("peers: the gateway certificate %s would be refused by its peers (%w): it needs the name %s and the serverAuth and clientAuth usages, from the CA in %s (FORCE=1 make certs remakes them)",
				c.CertFile, err, c.ServerName, c.CAFile)
		}
	}
	return nil
}
