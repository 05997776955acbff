package caddymodule

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Discovery
		wantErr string
		// env is FAAS_PEERS, and wantPeers the peers name provisioning
		// must give; certPath is DOCKER_CERT_PATH, and wantPeersCA the
		// peers' CA file provisioning must give.
		env, wantPeers, certPath, wantPeersCA string
	}{
		{name: "bare", input: `swarm`, want: Discovery{}},
		{name: "empty block", input: `swarm {
		}`, want: Discovery{}},
		{
			name: "every option",
			input: `swarm {
				docker_host       tcp://manager:2376
				tls_ca            /certs/ca.pem
				tls_cert          /certs/cert.pem
				tls_key           /certs/key.pem
				label_prefix      gw
				network           backend
				lb                vip
				node_id           n1
				resync_interval   1m
				converge_interval 100ms
				api_timeout       3s
				poll_only
				containers        off
				scaling           off
			}`,
			want: Discovery{
				DockerHost: "tcp://manager:2376", TLSCA: "/certs/ca.pem", TLSCert: "/certs/cert.pem", TLSKey: "/certs/key.pem",
				LabelPrefix: "gw", Network: "backend", LB: labels.LBVIP, NodeID: "n1",
				ResyncInterval: caddy.Duration(time.Minute), ConvergeInterval: caddy.Duration(100 * time.Millisecond),
				APITimeout: caddy.Duration(3 * time.Second), PollOnly: true, Containers: "off", Scaling: "off",
			},
		},
		{name: "unknown option", input: "swarm {\n bogus 1\n}", wantErr: "unrecognized swarm option 'bogus'"},
		{name: "repeated option", input: "swarm {\n network a\n network b\n}", wantErr: "already been specified"},
		{name: "missing value", input: "swarm {\n docker_host\n}", wantErr: "wrong argument count"},
		{name: "extra value", input: "swarm {\n network a b\n}", wantErr: "wrong argument count"},
		{name: "inline argument", input: "swarm multiply", wantErr: "wrong argument count"},
		{name: "bad duration", input: "swarm {\n resync_interval soon\n}", wantErr: "parsing duration 'soon'"},
		{name: "negative duration", input: "swarm {\n converge_interval -1s\n}", wantErr: "must be positive"},
		{name: "bad lb", input: "swarm {\n lb dns\n}", wantErr: `lb "dns"`},
		{name: "cert without key", input: "swarm {\n tls_cert c.pem\n}", wantErr: "tls_cert and tls_key"},
		{name: "containers on or off", input: "swarm {\n containers maybe\n}", wantErr: `containers "maybe": want on or off`},
		{name: "scaling on or off", input: "swarm {\n scaling auto\n}", wantErr: `scaling "auto": want on or off`},
		{
			name: "peers, TLS from the Docker API's",
			input: `swarm {
				tls_ca   /certs/ca.pem
				tls_cert /certs/cert.pem
				tls_key  /certs/key.pem
				peers tasks.faas_gateway
			}`,
			want: Discovery{TLSCA: "/certs/ca.pem", TLSCert: "/certs/cert.pem", TLSKey: "/certs/key.pem",
				Peers: &PeersConfig{Name: "tasks.faas_gateway"}},
		},
		{
			name: "peers with every option",
			input: `swarm {
				peers tasks.gw {
					port        9444
					tls_ca      /p/ca.pem
					tls_cert    /p/cert.pem
					tls_key     /p/key.pem
					server_name gw
					interval    500ms
				}
			}`,
			want: Discovery{Peers: &PeersConfig{Name: "tasks.gw", Port: 9444, TLSCA: "/p/ca.pem", TLSCert: "/p/cert.pem", TLSKey: "/p/key.pem",
				ServerName: "gw", Interval: caddy.Duration(500 * time.Millisecond)}},
		},
		{name: "peers from FAAS_PEERS", input: "swarm {\n tls_ca a\n tls_cert b\n tls_key c\n}", env: "tasks.env_gw",
			want: Discovery{TLSCA: "a", TLSCert: "b", TLSKey: "c"}, wantPeers: "tasks.env_gw"},
		// As stack.cluster.yml gives the Docker API's files: its environment.
		{name: "peers' TLS from DOCKER_CERT_PATH", input: "swarm", env: "tasks.gateway", certPath: "/run/secrets",
			want: Discovery{}, wantPeers: "tasks.gateway", wantPeersCA: "/run/secrets/ca.pem"},
		{name: "an engine's TLS over DOCKER_CERT_PATH", input: "swarm {\n engine a tcp://a:2376 {\n tls_ca /a/ca.pem\n tls_cert /a/cert.pem\n tls_key /a/key.pem\n }\n}",
			env: "tasks.gateway", certPath: "/run/secrets", wantPeers: "tasks.gateway", wantPeersCA: "/a/ca.pem",
			// Provisioning fills in the engine's defaults in the slice the parsed options share.
			want: Discovery{Engines: []EngineConfig{{Name: "a", DockerHost: "tcp://a:2376", TLSCA: "/a/ca.pem", TLSCert: "/a/cert.pem", TLSKey: "/a/key.pem", Reach: "published", PublishHost: "a"}}}},
		{name: "peers without TLS", input: "swarm {\n peers tasks.gw\n}", wantErr: "peers: tls_ca, tls_cert and tls_key are required"},
		{name: "peers without a name", input: "swarm {\n peers\n}", wantErr: "wrong argument count"},
		{name: "peers with a bad port", input: "swarm {\n peers tasks.gw {\n port 0\n }\n}", wantErr: "want 1 to 65535"},
		{name: "peers with scaling off", input: "swarm {\n tls_ca a\n tls_cert b\n tls_key c\n scaling off\n peers tasks.gw\n}", wantErr: "scaling, which is off"},
		{name: "peers, unknown option", input: "swarm {\n peers tasks.gw {\n ttl 3\n }\n}", wantErr: "peers: unrecognized option 'ttl'"},
		{name: "poll_only takes no value", input: "swarm {\n poll_only yes\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(peersEnv, tt.env)
			t.Setenv(dockerCertPathEnv, tt.certPath)
			for _, m := range []caddyfile.Unmarshaler{new(SwarmUpstreams), new(SwarmRoute)} {
				err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
				var got Discovery
				switch m := m.(type) {
				case *SwarmUpstreams:
					got = m.Discovery
				case *SwarmRoute:
					got = m.Discovery
				}
				if err == nil {
					// Parsing only parses; values are checked, as for JSON,
					// when the module is provisioned.
					provisioned := got
					err = provisioned.provision()
					if err == nil && tt.wantPeers != "" && (provisioned.Peers == nil || provisioned.Peers.Name != tt.wantPeers) {
						t.Errorf("%T: provisioned peers %+v, want the name %q", m, provisioned.Peers, tt.wantPeers)
					}
					if err == nil && tt.wantPeersCA != "" && (provisioned.Peers == nil || provisioned.Peers.TLSCA != tt.wantPeersCA) {
						t.Errorf("%T: provisioned peers %+v, want the CA %q", m, provisioned.Peers, tt.wantPeersCA)
					}
				}
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("%T: error = %v, want one containing %q", m, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%T: %v", m, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%T: got %+v, want %+v", m, got, tt.want)
				}
			}
		})
	}
}

func TestProvisionValidates(t *testing.T) {
	tests := []struct {
		name    string
		d       Discovery
		wantErr string
	}{
		{name: "cert without key", d: Discovery{TLSCert: "c.pem"}, wantErr: "tls_cert and tls_key"},
		{name: "bad lb in JSON", d: Discovery{LB: "round"}, wantErr: `lb "round"`},
		{name: "negative interval in JSON", d: Discovery{ResyncInterval: -1}, wantErr: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.d.provision(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("provision() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestDefaultCaddyfileAdapts checks that the Caddyfile the image ships
// adapts to the handlers this module provides, in the right order.
func TestDefaultCaddyfileAdapts(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "../Caddyfile"})
	if err != nil {
		t.Fatalf("adapting the default Caddyfile: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []map[string]any `json:"handle"`
					} `json:"routes"`
					NamedRoutes map[string]json.RawMessage `json:"named_routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var handlers, policies []string
	var source any
	for _, srv := range cfg.Apps.HTTP.Servers {
		policies = slices.AppendSeq(policies, maps.Keys(srv.NamedRoutes))
		for _, r := range srv.Routes {
			for _, h := range r.Handle {
				handlers = append(handlers, h["handler"].(string))
				if h["handler"] == "reverse_proxy" {
					source = h["dynamic_upstreams"].(map[string]any)["source"]
				}
			}
		}
	}
	// The subroute is `handle /-/ready { swarm_ready }`.
	if strings.Join(handlers, ",") != "subroute,swarm_route,reverse_proxy" || source != "swarm" || !strings.Contains(string(out), `"handler":"swarm_ready"`) {
		t.Errorf("handlers = %v, upstream source = %v; want the readiness subroute (swarm_ready), swarm_route, then reverse_proxy with the swarm source\n%s", handlers, source, out)
	}
	// The shipped policies, attached to the server by swarm_route's list.
	slices.Sort(policies)
	if want := []string{"grpc", "private", "sticky", "stream"}; !slices.Equal(policies, want) {
		t.Errorf("named routes = %v, want the shipped policies %v", policies, want)
	}
	// The default log's encoder: lazy, wrapping Caddy's default.
	if want := `"logs":{"default":{"encoder":{"format":"lazy"}}}`; !strings.Contains(string(out), want) {
		t.Errorf("the default log is not %s:\n%s", want, out)
	}
}

// TestSideCookieOption: side_cookie alone names the cookie faas_side, or
// takes a name; a name a cookie cannot have fails at provisioning.
func TestSideCookieOption(t *testing.T) {
	for _, tt := range []struct{ input, want, wantErr string }{
		{input: "swarm_route {\n side_cookie\n}", want: "faas_side"},
		{input: "swarm_route {\n side_cookie canary\n}", want: "canary"},
		{input: "swarm_route {\n side_cookie a b\n}", wantErr: "wrong argument count"},
		{input: "swarm_route", want: ""},
	} {
		var sr SwarmRoute
		err := sr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.input, err, tt.wantErr)
			}
			continue
		}
		if err != nil || sr.SideCookie != tt.want {
			t.Errorf("%q: side_cookie %q (%v), want %q", tt.input, sr.SideCookie, err, tt.want)
		}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	sr := SwarmRoute{SideCookie: "no;pe"}
	if err := sr.Provision(ctx); err == nil || !strings.Contains(err.Error(), `side_cookie "no;pe"`) {
		t.Errorf("provisioning side_cookie %q: %v, want an error naming it", sr.SideCookie, err)
	}
}
