package lazylog

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the Caddyfile adapter
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// filterFields are the filter encoder's fields in these tests: a filter
// on a field of the request object, of its nested headers (an array) and
// TLS objects, of an entry's own object, array and number.
const filterFields = `
request>remote_ip ip_mask 16
request>remote_port delete
request>uri query {
	replace token REDACTED
}
request>headers>X-Secret hash
request>tls>server_name replace hidden
tags delete
status replace ok
`

// refusedNesting is what a refused nesting's error says.
const refusedNesting = "put lazy outermost: format lazy { wrap filter { ... } }"

// fixedClock gives every entry the same time, so that outputs compare.
type fixedClock struct{}

func (fixedClock) Now() time.Time                       { return time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC) }
func (fixedClock) NewTicker(time.Duration) *time.Ticker { return time.NewTicker(time.Hour) }

// writeAccessEntries writes through l what Caddy's access log writes: a
// With logger holding the request (its headers, with arrays of values, and
// its TLS state are nested objects), an entry with an object, an array and
// scalars of its own, and a child logger's entry.
func writeAccessEntries(l *zap.Logger) {
	req := httptest.NewRequest("POST", "https://app.test/api/v1/add?x=10&token=s3cret", nil)
	req.RemoteAddr = "203.0.113.77:51234"
	// One name a header: headers are written in the order of a map.
	req.Header = http.Header{"X-Secret": {"hunter2", "hunter3"}}
	req.TransferEncoding = []string{"chunked"}
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, NegotiatedProtocol: "h2", ServerName: "app.test"}
	resp := http.Header{"Vary": {"Accept", "Origin"}}

	l = l.WithOptions(zap.WithClock(fixedClock{})).Named("http.log.access")
	access := l.With(zap.String("server", "srv0"), zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req}))
	access.Debug("not written", zap.String("x", "y"))
	access.Info("handled request", zap.Int("status", 200), zap.Duration("duration", 1500*time.Microsecond),
		zap.Object("resp_headers", caddyhttp.LoggableHTTPHeader{Header: resp}), zap.Strings("tags", []string{"a", "b"}),
		zap.Strings("kept", []string{"c"}))
	access.With(zap.Namespace("upstream"), zap.String("dial", "10.0.1.5:8080")).
		Warn("retrying", zap.Object("resp_headers", caddyhttp.LoggableHTTPHeader{Header: resp}))
}

// loadEncoder loads an encoder from its Caddyfile form (`filter { wrap
// lazy }`) as Caddy loads a log's encoder: by module ID, provisioning it
// and the encoders it wraps.
func loadEncoder(t *testing.T, encoder string) (zapcore.Encoder, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(encoder)
	d.Next()
	id := "caddy.logging.encoders." + d.Val()
	unm, err := caddyfile.UnmarshalModule(d, id)
	if err != nil {
		t.Fatalf("parsing %s: %v", encoder, err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID(id, caddyconfig.JSON(unm, nil))
	if err != nil {
		return nil, err
	}
	return mod.(zapcore.Encoder), nil
}

// encoderOutput is what enc writes for writeAccessEntries.
func encoderOutput(enc zapcore.Encoder) string {
	var buf bytes.Buffer
	writeAccessEntries(zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.InfoLevel)))
	return buf.String()
}

// TestLazyEncoderNestings: lazy around another encoder, Caddy's filter
// encoder included, writes byte for byte what that encoder writes alone;
// an encoder around lazy is refused at load, with the order that works.
func TestLazyEncoderNestings(t *testing.T) {
	tests := []struct {
		name, encoder string
		like          string // the encoder whose output it must write
		wantErr       string
	}{
		{name: "lazy around json", encoder: "lazy", like: "json"},
		{name: "lazy around filter", encoder: "lazy {\n wrap filter {" + filterFields + "}\n}", like: "filter {" + filterFields + "}"},
		{name: "lazy around filter around json", encoder: "lazy {\n wrap filter {\n wrap json" + filterFields + "}\n}", like: "filter {\n wrap json" + filterFields + "}"},
		{name: "lazy around filter around console", encoder: "lazy {\n wrap filter {\n wrap console" + filterFields + "}\n}", like: "filter {\n wrap console" + filterFields + "}"},
		{name: "lazy around lazy around filter", encoder: "lazy {\n wrap lazy {\n wrap filter {" + filterFields + "}\n}\n}", like: "filter {" + filterFields + "}"},
		{name: "filter around lazy", encoder: "filter {\n wrap lazy" + filterFields + "}", wantErr: refusedNesting},
		{name: "filter around lazy around json", encoder: "filter {\n wrap lazy {\n wrap json\n }" + filterFields + "}", wantErr: refusedNesting},
		{name: "lazy around filter around lazy", encoder: "lazy {\n wrap filter {\n wrap lazy" + filterFields + "}\n}", wantErr: refusedNesting},
		{name: "filter around filter around lazy", encoder: "filter {\n wrap filter {\n wrap lazy\n }\n}", wantErr: refusedNesting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := loadEncoder(t, tt.encoder)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("loaded, and writes\n%s", encoderOutput(enc))
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			like, err := loadEncoder(t, tt.like)
			if err != nil {
				t.Fatal(err)
			}
			got, want := encoderOutput(enc), encoderOutput(like)
			if got != want {
				t.Errorf("%s wrote\n%s\n%s\n%s", tt.encoder, got, tt.like, want)
			}
			checkAccessEntries(t, want, strings.Contains(tt.like, "filter"))
		})
	}
}

// checkAccessEntries fails t unless out holds writeAccessEntries' two
// entries with their objects' members, filtered if filtered. The console
// encoder's spaces after colons and commas are taken out first.
func checkAccessEntries(t *testing.T, out string, filtered bool) {
	t.Helper()
	out = strings.NewReplacer(`": `, `":`, `", "`, `","`).Replace(out)
	want := []string{"handled request", "retrying", "srv0", "POST", `"X-Secret":[`, `"cipher_suite":`, `"transfer_encoding":["chunked"]`, "10.0.1.5:8080", `"Vary":["Accept","Origin"]`, `"kept":["c"]`}
	if filtered {
		want = append(want, `"remote_ip":"203.0.0.0"`, "token=REDACTED", `"server_name":"hidden"`, `"status":"ok"`)
	}
	for _, w := range want {
		if strings.Count(out, w) < 1 {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d entries, want 2:\n%s", n, out)
	}
	if filtered && (strings.Contains(out, "s3cret") || strings.Contains(out, "hunter") || strings.Contains(out, "51234") || strings.Contains(out, `"tags"`)) {
		t.Errorf("an unfiltered value in\n%s", out)
	}
}

// testModule names the logger the Caddy config test writes with.
type testModule struct{}

func (testModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "lazylog.test", New: func() caddy.Module { return testModule{} }}
}

// TestLazyEncoderNestingsInCaddy: a Caddyfile whose log has lazy around
// filter loads, and its log file holds what filter alone writes; one with
// filter around lazy fails to load, and says which order works.
func TestLazyEncoderNestingsInCaddy(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tests := []struct {
		name, format, wantErr string
	}{
		{name: "filter", format: "filter {" + filterFields + "}"},
		{name: "lazy around filter", format: "lazy {\n wrap filter {" + filterFields + "}\n}"},
		{name: "filter around lazy", format: "filter {\n wrap lazy" + filterFields + "}", wantErr: refusedNesting},
	}
	var filterOutput string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := logThroughCaddy(t, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q; the log holds\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkAccessEntries(t, out, true)
			if filterOutput == "" {
				filterOutput = out
			} else if out != filterOutput {
				t.Errorf("the log holds\n%s\nfilter alone wrote\n%s", out, filterOutput)
			}
		})
	}
}

// logThroughCaddy runs a Caddyfile whose log lazylog.test has the encoder
// format, writes writeAccessEntries through it and returns what its file
// holds, or the error of loading the config.
func logThroughCaddy(t *testing.T, format string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "access.log")
	cf := fmt.Sprintf(`{
		admin off
		persist_config off
		log test {
			output file %s {
				roll_disabled
			}
			format %s
			include lazylog.test
		}
	}`, file, format)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile.Format([]byte(cf)), nil)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("adapting: %v %v\n%s", err, warnings, cf)
	}
	if err := caddy.Load(cfg, true); err != nil {
		return "", err
	}
	writeAccessEntries(caddy.ActiveContext().Logger(testModule{}))
	if err := caddy.Stop(); err != nil {
		t.Fatalf("stopping caddy: %v", err)
	}
	out, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), nil
}
