// The Docker API table of docs/docker-api.md (linked from the README) is a
// copy of Allowlist: this test holds the copy to the source.

package dockerapi

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeCall is one call in the docs table's first cell: a method and a
// path, with an optional query, in backquotes.
var readmeCall = regexp.MustCompile("`([A-Z]+) (/[^`?\\s]*)(\\?[^`]*)?`")

func TestReadmeListsTheAllowlist(t *testing.T) {
	b, err := os.ReadFile("../docs/docker-api.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "<!-- allowlist:start -->")
	end := strings.Index(readme, "<!-- allowlist:end -->")
	if start < 0 || end < start {
		t.Fatal("docs/docker-api.md has no table between <!-- allowlist:start --> and <!-- allowlist:end -->")
	}

	var listed []string
	for _, line := range strings.Split(readme[start:end], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue // the markers, or text around the table
		}
		for _, m := range readmeCall.FindAllStringSubmatch(cells[1], -1) {
			listed = append(listed, m[1]+" "+m[2])
		}
	}
	var allowed []string
	for _, e := range Allowlist {
		for _, m := range e.Methods {
			allowed = append(allowed, m+" "+e.Path)
		}
	}
	slices.Sort(listed)
	slices.Sort(allowed)
	for _, c := range allowed {
		if !slices.Contains(listed, c) {
			t.Errorf("docs/docker-api.md does not list %s, which the allowlist lets through", c)
		}
	}
	for i, c := range listed {
		if !slices.Contains(allowed, c) {
			t.Errorf("docs/docker-api.md lists %s, which the allowlist does not let through", c)
		} else if i > 0 && listed[i-1] == c {
			t.Errorf("docs/docker-api.md lists %s twice", c)
		}
	}
}
