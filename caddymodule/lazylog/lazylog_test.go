package lazylog

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// testLogger returns a logger at level writing into buf, encoding with the
// lazy encoder around JSON if lazy, else with JSON itself. Timestamps are
// left out so that outputs compare.
func testLogger(buf *bytes.Buffer, level zapcore.Level, lazy bool) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = ""
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(cfg)
	if lazy {
		enc = &LazyEncoder{wrapped: enc}
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), level))
}

// countingObject counts how often it is encoded.
type countingObject struct {
	mu sync.Mutex
	n  int
}

func (c *countingObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	enc.AddString("method", "GET")
	return nil
}

func (c *countingObject) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type failingObject struct{}

func (failingObject) MarshalLogObject(zapcore.ObjectEncoder) error { return errors.New("cannot") }

// TestLazyEncoderWritesAsWrapped: what the lazy encoder writes is byte for
// byte what the encoder it wraps writes, for every kind of field, nested
// With calls, namespaces and encoding errors.
func TestLazyEncoderWritesAsWrapped(t *testing.T) {
	when := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		with [][]zap.Field // one With call each
	}{
		{"no context", nil},
		{"scalars", [][]zap.Field{{
			zap.String("s", "x\"y"), zap.Int("i", -1), zap.Int64("i64", 1<<40), zap.Int32("i32", 3), zap.Int16("i16", 4), zap.Int8("i8", 5),
			zap.Uint("u", 6), zap.Uint64("u64", 7), zap.Uint32("u32", 8), zap.Uint16("u16", 9), zap.Uint8("u8", 10), zap.Uintptr("up", 11),
			zap.Bool("b", true), zap.Float64("f64", 1.5), zap.Float32("f32", 2.5), zap.Complex128("c128", 1+2i), zap.Complex64("c64", 3+4i),
			zap.Duration("d", 1500*time.Millisecond), zap.Time("t", when), zap.Binary("bin", []byte{0, 1}), zap.ByteString("bs", []byte("txt")),
		}}},
		{"objects, arrays, reflection", [][]zap.Field{{
			zap.Object("obj", &countingObject{}), zap.Strings("arr", []string{"a", "b"}), zap.Any("map", map[string]int{"k": 1}),
			zap.Stringer("str", time.Second), zap.Inline(&countingObject{}),
		}}},
		{"errors", [][]zap.Field{{zap.Error(errors.New("boom")), zap.Object("bad", failingObject{}), zap.NamedError("wrapped", errors.Join(errors.New("a"), errors.New("b")))}}},
		{"nested With and a namespace", [][]zap.Field{{zap.String("a", "1")}, {zap.Namespace("ns"), zap.String("b", "2")}, {zap.Int("c", 3)}}},
		{"a duplicate key", [][]zap.Field{{zap.String("k", "first")}, {zap.String("k", "second")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want bytes.Buffer
			lazy, eager := testLogger(&got, zapcore.InfoLevel, true), testLogger(&want, zapcore.InfoLevel, false)
			for _, fields := range tt.with {
				lazy, eager = lazy.With(fields...), eager.With(fields...)
			}
			for _, l := range []*zap.Logger{lazy, eager} {
				l.Info("first", zap.String("entry", "field"))
				l.Named("child").Warn("second")
			}
			if got.String() != want.String() {
				t.Errorf("lazy wrote\n%s\nthe wrapped encoder\n%s", got.String(), want.String())
			}
			if !strings.Contains(got.String(), `"msg":"second"`) {
				t.Errorf("no entry written: %q", got.String())
			}
		})
	}
}

// bytesObject adds its bytes to the encoder it is given, as zap.Inline
// does with a With logger's encoder.
type bytesObject struct{ b []byte }

func (o bytesObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddByteString("inline_bs", o.b)
	enc.AddBinary("inline_bin", o.b)
	return nil
}

// TestLazyEncoderCopiesBytes: a byte slice given to With is written as it
// was then, as the wrapped encoder writes it, though its caller reuses the
// slice before the entry is written.
func TestLazyEncoderCopiesBytes(t *testing.T) {
	tests := []struct {
		name   string
		fields func(b []byte) []zap.Field
	}{
		{"byte string", func(b []byte) []zap.Field { return []zap.Field{zap.ByteString("bs", b)} }},
		{"binary", func(b []byte) []zap.Field { return []zap.Field{zap.Binary("bin", b)} }},
		{"any of bytes", func(b []byte) []zap.Field { return []zap.Field{zap.Any("any", b)} }},
		{"inline object", func(b []byte) []zap.Field { return []zap.Field{zap.Inline(bytesObject{b})} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want bytes.Buffer
			for _, c := range []struct {
				out  *bytes.Buffer
				lazy bool
			}{{&got, true}, {&want, false}} {
				b := []byte("first")
				l := testLogger(c.out, zapcore.InfoLevel, c.lazy).With(tt.fields(b)...)
				copy(b, "XXXXX")
				l.Info("reused")
			}
			if got.String() != want.String() {
				t.Errorf("lazy wrote\n%s\nthe wrapped encoder\n%s", got.String(), want.String())
			}
			if strings.Contains(want.String(), "XXXXX") || strings.Contains(want.String(), "WFhYWFg=") {
				t.Fatalf("the wrapped encoder wrote the reused bytes: %s", want.String())
			}
		})
	}
}

// TestLazyEncoderDefersWith: a With logger's fields are encoded when it
// writes an entry, and not at all when its level is off.
func TestLazyEncoderDefersWith(t *testing.T) {
	var buf bytes.Buffer
	obj := &countingObject{}
	l := testLogger(&buf, zapcore.InfoLevel, true).With(zap.Object("request", obj))
	l.Debug("not written")
	if ce := l.Check(zapcore.DebugLevel, "not written"); ce != nil {
		t.Fatal("a debug entry is enabled at INFO")
	}
	if n := obj.count(); n != 0 {
		t.Fatalf("the object was encoded %d times with nothing written", n)
	}
	l.Info("written")
	l.Info("written again")
	if n := obj.count(); n != 2 {
		t.Errorf("the object was encoded %d times for 2 entries, want 2", n)
	}
	if want := `"request":{"method":"GET"}`; strings.Count(buf.String(), want) != 2 {
		t.Errorf("the entries lack %s: %s", want, buf.String())
	}
}

// TestLazyEncoderClones: loggers derived from one logger, concurrently,
// each write their own fields and none of their siblings'.
func TestLazyEncoderClones(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	base := zap.New(zapcore.NewCore(&LazyEncoder{wrapped: zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())},
		zapcore.AddSync(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		})), zapcore.InfoLevel)).With(zap.String("server", "srv0"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := base.With(zap.Int("worker", i))
			for j := range 50 {
				l.With(zap.Int("request", j)).Info("done")
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, line := range lines {
		if strings.Count(line, `"worker"`) != 1 || strings.Count(line, `"request"`) != 1 || strings.Count(line, `"server":"srv0"`) != 1 {
			t.Fatalf("a line with another logger's fields: %s", line)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestLazyEncoderCaddyfile: the Caddyfile syntax, and that what it loads
// wraps the named encoder (JSON by default).
func TestLazyEncoderCaddyfile(t *testing.T) {
	tests := []struct {
		input, wantJSON, wantErr string
	}{
		{input: "lazy", wantJSON: ""},
		{input: "lazy {\n wrap console\n}", wantJSON: `{"format":"console"}`},
		{input: "lazy {\n wrap json {\n time_format unix_seconds_float\n }\n}", wantJSON: `{"format":"json","time_format":"unix_seconds_float"}`},
		{input: "lazy json", wantErr: "wrong argument count"},
		{input: "lazy {\n wrap\n}", wantErr: "wrong argument count"},
		{input: "lazy {\n colour blue\n}", wantErr: "unrecognized subdirective colour"},
		{input: "lazy {\n wrap nosuch\n}", wantErr: "nosuch"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			var le LazyEncoder
			err := le.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(le.WrappedRaw) != tt.wantJSON {
				t.Errorf("wrap %s, want %s", le.WrappedRaw, tt.wantJSON)
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := le.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			switch le.wrapped.(type) {
			case *logging.JSONEncoder, *logging.ConsoleEncoder:
			default:
				t.Errorf("wrapped %T", le.wrapped)
			}
		})
	}
}

// BenchmarkProxyLoggerWith is what Caddy's reverse proxy does on every
// round trip: a With logger holding the upstream request, and a debug
// check that fails at the default level.
func BenchmarkProxyLoggerWith(b *testing.B) {
	req := httptest.NewRequest("GET", "http://10.0.1.5:8080/api/v1/add?x=10&y=25", nil)
	req.Header.Set("User-Agent", "wrk")
	req.Header.Set("X-Forwarded-For", "127.0.0.1")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", "localhost:8081")
	req.Header.Set("X-Forwarded-Prefix", "/multiply")
	for _, lazy := range []bool{false, true} {
		name := map[bool]string{false: "json", true: "lazy"}[lazy]
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			l := testLogger(&buf, zapcore.InfoLevel, lazy).Named("http.handlers.reverse_proxy")
			b.ReportAllocs()
			for b.Loop() {
				logger := l.With(zap.String("upstream", "10.0.1.5:8080"), zap.Duration("duration", time.Millisecond),
					zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req}))
				if c := logger.Check(zapcore.DebugLevel, "upstream roundtrip"); c != nil {
					c.Write()
				}
			}
			if buf.Len() != 0 {
				b.Fatalf("wrote %q", buf.String())
			}
		})
	}
}
