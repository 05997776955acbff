package routing

import (
	"strings"
	"testing"
)

// hostTable is a table of routes claiming host+prefix, written "host/prefix"
// ("/prefix" for any host).
func hostTable(claims ...string) *Table {
	t := NewTable()
	for _, c := range claims {
		i := strings.IndexByte(c, '/')
		t.Add(NewRoute(c[:i], c[i:], Side{Service: c}))
	}
	return t
}

func TestMatchOrder(t *testing.T) {
	table := hostTable(
		"api.example.com/", "api.example.com/v2", "*.example.com/", "*.example.com/docs",
		"/multiply", "/", "admin.example.com/admin",
	)
	tests := []struct {
		name, host, path string
		want             string // the claim that answers, "" for none
	}{
		{"exact host, longest prefix", "api.example.com", "/v2/x", "api.example.com/v2"},
		{"exact host, its root", "api.example.com", "/other", "api.example.com/"},
		{"exact host before a longer wildcard prefix", "api.example.com", "/docs", "api.example.com/"},
		{"wildcard one label deep", "www.example.com", "/docs/a", "*.example.com/docs"},
		{"wildcard root", "www.example.com", "/x", "*.example.com/"},
		{"wildcard is not two labels deep", "a.b.example.com", "/multiply", "/multiply"},
		{"wildcard does not claim the domain itself", "example.com", "/x", "/"},
		{"exact host without a match falls to the wildcard", "admin.example.com", "/x", "*.example.com/"},
		{"exact host match", "admin.example.com", "/admin/users", "admin.example.com/admin"},
		{"case-insensitive", "API.Example.COM", "/v2", "api.example.com/v2"},
		{"port ignored", "api.example.com:8443", "/v2", "api.example.com/v2"},
		{"trailing dot ignored", "api.example.com.", "/v2", "api.example.com/v2"},
		{"trailing dot and port", "api.example.com.:443", "/v2", "api.example.com/v2"},
		{"unknown host: host-less routes", "other.test", "/multiply/x", "/multiply"},
		{"IPv4 address: host-less routes", "127.0.0.1:8081", "/multiply", "/multiply"},
		{"IPv6 address: host-less routes", "[::1]:8081", "/multiply", "/multiply"},
		{"no Host: host-less routes", "", "/multiply", "/multiply"},
		{"look-alike suffix is another host", "api.example.com.evil.test", "/v2", "/"},
		{"prefix of a host name is another host", "xapi.example.com", "/v2", "*.example.com/"},
		{"a wildcard as Host is no host", "*.example.com", "/v2", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if r := table.Match(tt.host, MatchKey(CleanPath(tt.path))); r != nil {
				got = r.Pick().Service
			}
			if got != tt.want {
				t.Errorf("match(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestHostClaimed(t *testing.T) {
	table := hostTable("app.test/", "*.apps.test/api", "/multiply")
	for name, want := range map[string]bool{
		"app.test": true, "APP.test.": true, "a.apps.test": true,
		"apps.test": false, "a.b.apps.test": false, "*.apps.test": false, "other.test": false, "": false, "127.0.0.1": false,
	} {
		if got := table.HostClaimed(name); got != want {
			t.Errorf("hostClaimed(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHostMatchDoesNotAllocate(t *testing.T) {
	table := hostTable("api.example.com/v2", "*.example.com/", "/multiply")
	for _, host := range []string{"api.example.com", "API.EXAMPLE.COM:443", "www.example.com", "127.0.0.1"} {
		allocs := testing.AllocsPerRun(100, func() {
			_ = table.Match(host, MatchKey(CleanPath("/v2/add")))
		})
		if allocs != 0 {
			t.Errorf("match(%q) allocates %v times per call, want 0", host, allocs)
		}
	}
}

// FuzzHostMatch checks host+path matching against a plain reading of the
// rules: among the claims whose host is the request's (case, port and
// trailing dot aside), then those whose wildcard covers it one label deep,
// then the host-less ones, the first group with a claim covering the path
// answers, with its longest such prefix.
func FuzzHostMatch(f *testing.F) {
	claims := []string{"a.test/", "a.test/x", "*.test/", "*.test/y/z", "b.a.test/x", "*.a.test/w", "/", "/x", "/y"}
	table := hostTable(claims...)
	for _, s := range [][2]string{{"a.test", "/x/1"}, {"B.A.TEST.", "/w"}, {"c.test:80", "/y/z/1"}, {"", "/y"}, {"[::1]", "/x"}, {"a.test..", "/"}, {"*.test", "/y/z"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, p string) {
		key := MatchKey(CleanPath(p))
		h := strings.ToLower(host)
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasPrefix(h, "[") {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		if strings.HasPrefix(h, "[") || len(h) > MaxHostLen || strings.Contains(h, "*") {
			h = "" // an IPv6 literal, too long, or a wildcard: no host
		}
		covers := func(pre string) bool { return key == pre || pre == "/" || strings.HasPrefix(key, pre+"/") }
		want := ""
		for _, group := range []func(claimHost string) bool{
			func(c string) bool { return h != "" && c == h },
			func(c string) bool {
				d, ok := strings.CutPrefix(c, "*.")
				i := strings.IndexByte(h, '.')
				return ok && h != "" && i > 0 && h[i+1:] == d
			},
			func(c string) bool { return c == "" },
		} {
			best := ""
			for _, c := range claims {
				i := strings.IndexByte(c, '/')
				if group(c[:i]) && covers(c[i:]) && (best == "" || len(c[i:]) > len(best[strings.IndexByte(best, '/'):])) {
					best = c
				}
			}
			if best != "" {
				want = best
				break
			}
		}
		got := ""
		if r := table.Match(host, key); r != nil {
			got = r.Pick().Service
		}
		if got != want {
			t.Fatalf("match(%q, %q) = %q, want %q", host, p, got, want)
		}
	})
}
