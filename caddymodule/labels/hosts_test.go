package labels

import (
	"strings"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

func TestParseHost(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "api.example.com", want: "api.example.com"},
		{in: " API.Example.COM. ", want: "api.example.com"},
		{in: "*.example.com", want: "*.example.com"},
		{in: "localhost", want: "localhost"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "", wantErr: "empty"},
		{in: "https://api.example.com", wantErr: "no scheme"},
		{in: "api.example.com/path", wantErr: `character '/'`},
		{in: "api.example.com:8080", wantErr: `character ':'`},
		{in: "my_host.example.com", wantErr: `character '_'`},
		{in: "api example.com", wantErr: `character ' '`},
		{in: "*.*.example.com", wantErr: "`*` only as the whole first label"},
		{in: "a*.example.com", wantErr: "`*` only"},
		{in: "api.*.com", wantErr: "`*` only"},
		{in: "*", wantErr: "`*` only"},
		{in: "*.", wantErr: "`*` only"},
		{in: "a..b", wantErr: "empty label"},
		{in: ".a", wantErr: "empty label"},
		{in: "-a.test", wantErr: "hyphen"},
		{in: "10.0.0.1", wantErr: "IP address"},
		{in: "*.0.1", wantErr: "IP address"},
		{in: long + "x.test", wantErr: "longer than 63"},
		{in: strings.Repeat(long+".", 4) + "test", wantErr: "longer than 253"},
		{in: "é.test", wantErr: "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHost(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseHost(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParseHost checks that an accepted host name is one a request can be
// matched to: canonical, and within the DNS limits.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"api.example.com", "*.example.com", "A.B.", "a_b", "http://x", "1.2.3.4", "*.*.x", "x:80", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := parseHost(in)
		if err != nil {
			return
		}
		name := strings.TrimPrefix(h, "*.")
		if len(h) > routing.MaxHostLen || strings.ContainsAny(name, "*:/_ ") || strings.HasSuffix(h, ".") {
			t.Fatalf("parseHost(%q) = %q accepted", in, h)
		}
		// A request for the name (under the wildcard, for one), in any
		// case and with a trailing dot, is matched to the route claiming it.
		probe := name
		if h != name {
			probe = "a." + name
		}
		if len(probe) > routing.MaxHostLen {
			return
		}
		table := routing.NewTable()
		table.Add(routing.NewRoute(h, "/", routing.Side{Service: "s"}))
		for _, host := range []string{probe, strings.ToUpper(probe) + ".", probe + ":443"} {
			if !table.HostClaimed(host) {
				t.Fatalf("parseHost(%q) = %q, which a request for %q is not matched to", in, h, host)
			}
		}
	})
}
