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

// TestDeliveredCaddyfiles adapts the Caddyfiles where the image and the
// stacks put them, in a folder laid out as the image's /etc/caddy (from the
// final stage's COPY lines in xcaddy.Dockerfile, and its FAAS_CADDY_DIR),
// so that their imports resolve as they do in a container: the image's
// Caddyfiles give the golden files' JSON, and each Caddyfile the tests
// deliver beside them (TestHTTPS's, the cluster lifecycle's config swap,
// observe.Caddyfile, the bench's variants) adapts, with its change. It
// also checks that stack.cluster.yml, which mounts the default Caddyfile as
// a config, mounts gateway.caddy beside it. It needs no Docker.
func TestDeliveredCaddyfiles(t *testing.T) {
	unsetCaddyfileEnv(t)
	etc := t.TempDir() // the image's /etc/caddy
	const etcCaddy = "/etc/caddy"
	dockerfile, err := os.ReadFile("../xcaddy.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(dockerfile), "\nFROM ")
	for _, line := range strings.Split(stages[len(stages)-1], "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--"):
			dst := f[len(f)-1]
			for _, src := range f[1 : len(f)-1] {
				target := dst
				if strings.HasSuffix(dst, "/") {
					target = dst + filepath.Base(src)
				}
				rel, err := filepath.Rel(etcCaddy, target)
				if err != nil || strings.HasPrefix(rel, "..") {
					continue // not a Caddy config
				}
				copyFile(t, filepath.Join("..", src), filepath.Join(etc, rel))
			}
		case len(f) >= 2 && f[0] == "ENV" && strings.HasPrefix(f[1], "FAAS_CADDY_DIR="):
			if dir := strings.TrimPrefix(f[1], "FAAS_CADDY_DIR="); dir != etcCaddy {
				t.Fatalf("xcaddy.Dockerfile sets FAAS_CADDY_DIR=%s, want %s (where it copies gateway.caddy)", dir, etcCaddy)
			}
			t.Setenv("FAAS_CADDY_DIR", etc)
		}
	}
	if os.Getenv("FAAS_CADDY_DIR") != etc {
		t.Fatal("xcaddy.Dockerfile sets no FAAS_CADDY_DIR (https.Caddyfile imports gateway.caddy from it)")
	}

	t.Run("image", func(t *testing.T) {
		for _, sc := range shippedCaddyfiles {
			name := strings.TrimSuffix(sc.golden, ".json")
			got, err := adaptCaddyfile(filepath.Join(etc, name))
			if err != nil {
				t.Error(err)
				continue
			}
			want, err := os.ReadFile(filepath.Join("testdata", "adapted", sc.golden))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the image's %s adapts to other JSON than %s's golden file:\n%s", name, sc.file, lineDiff(string(want), string(got)))
			}
		}
	})

	// deliver writes a Caddyfile a test mounts in the container (at
	// /etc/caddy/<name>), adapts it and returns its JSON.
	deliver := func(t *testing.T, name string, content []byte) string {
		t.Helper()
		file := filepath.Join(etc, name)
		write(t, file, content)
		out, err := adaptCaddyfile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	t.Run("https-test", func(t *testing.T) { // e2e/testdata/https.yml
		file := filepath.Join(t.TempDir(), "gateway.Caddyfile")
		writeGatewayCaddyfile(t, file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if out := deliver(t, "https-test.Caddyfile", b); !strings.Contains(out, acmeDirectory) || !strings.Contains(out, `"sticky"`) {
			t.Errorf("TestHTTPS's Caddyfile: no acme_ca %s, or no policies:\n%s", acmeDirectory, out)
		}
	})
	t.Run("config-swap", func(t *testing.T) { // TestClusterLifecycle, over stack.cluster.yml's config
		if out := deliver(t, "Caddyfile", configSwapCaddyfile(t)); !strings.Contains(out, configHeader) {
			t.Errorf("the config swap's Caddyfile sets no %s header:\n%s", configHeader, out)
		}
		copyFile(t, "../Caddyfile", filepath.Join(etc, "Caddyfile"))
	})
	t.Run("observe", func(t *testing.T) { // e2e/testdata/observe.yml
		b, err := os.ReadFile("testdata/observe.Caddyfile")
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(etcCaddy+"/"), []byte(etc+"/"))
		if out := deliver(t, "observe.Caddyfile", b); !strings.Contains(out, `"swarm_status"`) || !strings.Contains(out, `"swarm_route"`) {
			t.Errorf("observe.Caddyfile: not the gateway plus its status site:\n%s", out)
		}
	})
	t.Run("bench", func(t *testing.T) { // TestBench's contenders, in benchConfigDir
		for _, v := range []struct {
			name  string
			files caddyfileSet
			check func(string) bool
		}{
			{"shipped", shippedCaddyfileSet(t), func(out string) bool { return strings.Contains(out, `"format": "lazy"`) }},
			{"eager log", caddyfileVariant(t, lazyLog, ""), func(out string) bool { return !strings.Contains(out, `"lazy"`) }},
			{"no metrics", caddyfileVariant(t, "\tswarm_route {\n", "\tswarm_route {\n\t\tno_metrics\n"), func(out string) bool {
				return strings.Count(out, `"no_metrics": true`) == 1
			}},
		} {
			rel, err := filepath.Rel(etcCaddy, benchConfigDir)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(etc, rel)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			for name, b := range v.files {
				if name != "Caddyfile" {
					write(t, filepath.Join(dir, name), b)
				}
			}
			if out := deliver(t, filepath.Join(rel, "Caddyfile"), v.files["Caddyfile"]); !v.check(out) {
				t.Errorf("the bench's %s gateway: not the change it makes:\n%s", v.name, out)
			}
		}
	})
	t.Run("stack.cluster.yml", func(t *testing.T) {
		b, err := os.ReadFile("../stack.cluster.yml")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range gatewayCaddyfiles {
			if !strings.Contains(string(b), "target: "+etcCaddy+"/"+f+"}") || !strings.Contains(string(b), "file: ./"+f+"\n") {
				t.Errorf("stack.cluster.yml does not mount %s as a config at %s/%s", f, etcCaddy, f)
			}
		}
	})
}

// copyFile copies src to dst, making dst's folder.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, b)
}

// write writes a file, making its folder.
func write(t *testing.T, file string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
}
