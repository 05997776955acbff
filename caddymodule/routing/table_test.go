package routing

import (
	"strings"
	"testing"
)

func tableOf(prefixes ...string) *Table {
	t := NewTable()
	for _, p := range prefixes {
		t.Add(NewRoute("", p, Side{Service: "svc" + p}))
	}
	return t
}

func TestRouteTableMatch(t *testing.T) {
	table := tableOf("/multiply", "/multiply/v2", "/a/b/c", "/x.y")
	tests := []struct {
		path string
		want string // matched prefix, "" for none
	}{
		{"/multiply", "/multiply"},
		{"/multiply/", "/multiply"},
		{"/multiply/api/v1/add", "/multiply"},
		{"/multiply/v2", "/multiply/v2"},
		{"/multiply/v2/add", "/multiply/v2"},
		{"/multiply/v21", "/multiply"},
		{"/multiplyx", ""},
		{"/multipl", ""},
		{"/MULTIPLY", ""},
		{"/a/b", ""},
		{"/a/b/c/d", "/a/b/c"},
		{"/x.y/z", "/x.y"},
		{"/", ""},
		{"", ""},
		{"/multiply/../secret", ""},
		{"/secret/../multiply/add", "/multiply"},
		{"//multiply//add", "/multiply"},
		{"/./multiply/./add", "/multiply"},
		{"multiply/add", "/multiply"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := ""
			if r := table.Match("", MatchKey(CleanPath(tt.path))); r != nil {
				got = r.Prefix
			}
			if got != tt.want {
				t.Errorf("match(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestRootPrefixIsCatchAll(t *testing.T) {
	table := tableOf("/", "/multiply")
	for path, want := range map[string]string{"/": "/", "/anything/else": "/", "/multiply/add": "/multiply"} {
		if r := table.Match("", MatchKey(CleanPath(path))); r == nil || r.Prefix != want {
			t.Errorf("match(%q) = %v, want %q", path, r, want)
		}
	}
}

func TestCleanPathAndStrip(t *testing.T) {
	tests := []struct {
		path, prefix, cleaned, stripped string
	}{
		{"/multiply/api/v1/add", "/multiply", "/multiply/api/v1/add", "/api/v1/add"},
		{"/multiply", "/multiply", "/multiply", "/"},
		{"/multiply/", "/multiply", "/multiply/", "/"},
		{"/multiply/dir/", "/multiply", "/multiply/dir/", "/dir/"},
		{"/multiply//dir/./x/../y", "/multiply", "/multiply/dir/y", "/dir/y"},
		{"/anything", "/", "/anything", "/anything"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := CleanPath(tt.path)
			if c != tt.cleaned {
				t.Fatalf("CleanPath(%q) = %q, want %q", tt.path, c, tt.cleaned)
			}
			if s := StripPrefix(c, tt.prefix); s != tt.stripped {
				t.Errorf("StripPrefix(%q, %q) = %q, want %q", c, tt.prefix, s, tt.stripped)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	table := tableOf("/multiply")
	allocs := testing.AllocsPerRun(100, func() {
		_ = table.Match("", MatchKey(CleanPath("/multiply/api/v1/add")))
	})
	if allocs != 0 {
		t.Errorf("match allocates %v times per call, want 0", allocs)
	}
}

// FuzzMatch checks the route table against a plain reading of the rules:
// the answer is the longest route prefix that equals the cleaned path or
// is followed in it by a slash, or none.
func FuzzMatch(f *testing.F) {
	for _, seed := range []string{"/multiply/api", "/multiply/../x", "//multiply", "/a/b/c/d", "/", "", "/multiplyx", "/a/./b/", "/%2e%2e/a", "/a/b/..", "multiply"} {
		f.Add(seed)
	}
	prefixes := []string{"/", "/multiply", "/a", "/a/b", "/a/b/c", "/x.y", "/m-1"}
	table := tableOf(prefixes...)
	f.Fuzz(func(t *testing.T, p string) {
		cleaned := CleanPath(p)
		if CleanPath(cleaned) != cleaned || !strings.HasPrefix(cleaned, "/") {
			t.Fatalf("CleanPath(%q) = %q is not clean", p, cleaned)
		}
		for _, seg := range strings.Split(cleaned, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q keeps a dot segment", p, cleaned)
			}
		}
		key := MatchKey(cleaned)
		want := ""
		for _, pre := range prefixes {
			if (key == pre || pre == "/" || strings.HasPrefix(key, pre+"/")) && len(pre) > len(want) {
				want = pre
			}
		}
		got := ""
		if r := table.Match("", key); r != nil {
			got = r.Prefix
		}
		if got != want {
			t.Fatalf("match(%q) (cleaned %q) = %q, want %q", p, cleaned, got, want)
		}
		if got != "" {
			stripped := StripPrefix(cleaned, got)
			if !strings.HasPrefix(stripped, "/") || got != "/" && !strings.HasSuffix(got+stripped, strings.TrimPrefix(cleaned, got)) {
				t.Fatalf("StripPrefix(%q, %q) = %q", cleaned, got, stripped)
			}
		}
	})
}
