package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// This module's directives, as the image's binary has them.
	_ "github.com/faas-gateway/faas-gateway"
)

var update = flag.Bool("update", false, "rewrite testdata/adapted/*.json from the shipped Caddyfiles (TestAdaptedCaddyfiles)")

// shippedCaddyfiles are the Caddyfiles the image ships, from the
// repository's root, and their golden files in testdata/adapted (named as
// in the image's /etc/caddy).
var shippedCaddyfiles = []struct{ file, golden string }{
	{"Caddyfile", "Caddyfile.json"},
	{"https/Caddyfile", "https.Caddyfile.json"},
	{"docker-api/Caddyfile", "docker-api.Caddyfile.json"},
}

// TestAdaptedCaddyfiles adapts each shipped Caddyfile in this process, as
// `caddy adapt` does (imports resolved from the Caddyfile's own folder), and
// compares the JSON with its golden file: a change to how the Caddyfiles
// are written shows here as no change at all, and a change to what they
// configure as the JSON diff. After a change meant to change the JSON,
// rewrite the golden files and review their diff:
//
//	go test -run TestAdaptedCaddyfiles ./e2e -update
//
// Environment placeholders ({$NAME:default}) are replaced when the
// Caddyfile is read, so the test unsets those the Caddyfiles name: the
// golden files hold the defaults. It needs no Docker.
func TestAdaptedCaddyfiles(t *testing.T) {
	unsetCaddyfileEnv(t)
	for _, sc := range shippedCaddyfiles {
		t.Run(strings.TrimSuffix(sc.golden, ".json"), func(t *testing.T) {
			got, err := adaptCaddyfile(filepath.Join("..", sc.file))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "adapted", sc.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (write it with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s adapts to other JSON than %s (-golden +adapted):\n%s\nIf the change is meant, run with -update and review the golden file's diff.",
					sc.file, golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// adaptCaddyfile adapts a Caddyfile to JSON, indented with tabs for
// readable diffs. Warnings (such as an unformatted Caddyfile) are errors:
// the shipped Caddyfiles have none.
func adaptCaddyfile(file string) ([]byte, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, warnings, err := adapter.Adapt(body, map[string]any{"filename": file})
	if err != nil {
		return nil, fmt.Errorf("adapting %s: %w", file, err)
	}
	if len(warnings) > 0 {
		var ws []string
		for _, w := range warnings {
			ws = append(ws, w.String())
		}
		return nil, fmt.Errorf("adapting %s: warnings:\n  %s", file, strings.Join(ws, "\n  "))
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, out, "", "\t"); err != nil {
		return nil, err
	}
	indented.WriteByte('\n')
	return indented.Bytes(), nil
}

// envPlaceholder is a Caddyfile environment placeholder, {$NAME} or
// {$NAME:default}.
var envPlaceholder = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)`)

// unsetCaddyfileEnv unsets, until the test ends, every environment
// variable the repository's Caddyfiles (and the files they import) name.
func unsetCaddyfileEnv(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob("../*.caddy")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range shippedCaddyfiles {
		files = append(files, filepath.Join("..", sc.file))
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envPlaceholder.FindAllSubmatch(body, -1) {
			name := string(m[1])
			t.Setenv(name, "") // restored when the test ends
			os.Unsetenv(name)
		}
	}
}

// lineDiff returns the lines that differ between a and b, each with the
// line number in a (-) or b (+), from a longest common subsequence.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j]: the longest common subsequence of x[i:] and y[j:]
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "-%4d %s\n", i+1, x[i])
			i++
		default:
			fmt.Fprintf(&out, "+%4d %s\n", j+1, y[j])
			j++
		}
	}
	return out.String()
}
