package lazylog

// This file holds the `lazy` log encoder: it keeps a logger's context
// fields (those given to With) as they are and encodes them only when an
// entry is written.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

func init() {
	caddy.RegisterModule(LazyEncoder{})
}

// LazyEncoder encodes a log's entries with another encoder (`wrap`), but
// encodes the fields a logger is given with `With` only when that logger
// writes an entry, not when `With` is called.
//
// zap encodes a `With` logger's fields at once, whatever the level, and
// Caddy's reverse proxy calls `With` on every round trip with the whole
// upstream request (its method, URI and headers) for debug lines that, at
// the default INFO level, are never written. Under load that encoding,
// and the garbage it leaves, is several percent of the gateway's CPU. With
// this encoder a `With` only keeps the fields (a slice append), so the
// cost goes where an entry is written.
//
// Entries come out as the wrapped encoder writes them: the same fields in
// the same order. One difference: a field is encoded from its value when
// the entry is written, so an object, an array or a reflected value
// (`zap.Object`, `zap.Strings`, `zap.Any` of a map) that changes between
// `With` and the write shows its later state: what such a value holds is
// its caller's, and the encoder cannot copy it. Caddy's request fields
// describe a request that no longer changes by then. Byte slices
// (`zap.ByteString`, `zap.Binary`, `zap.Any` of one) reach the encoder as
// the bytes themselves, and it copies them: their callers may reuse them.
// Scalars, strings, errors' messages and `zap.Stringer`'s string are
// values or encoded at `With` already.
//
// Lazy goes outermost: it wraps any encoder, Caddy's filter encoder
// included (`format lazy { wrap filter { ... } }`), but no encoder other
// than lazy may wrap it; `format filter { wrap lazy }` fails to load.
//
// The shipped Caddyfile sets it on the default log:
//
//	{
//		log {
//			format lazy
//		}
//	}
type LazyEncoder struct {
	// The encoder that writes the entries. If not specified, "json", or
	// "console" when the log goes to a terminal, as Caddy's default log
	// does.
	WrappedRaw json.RawMessage `json:"wrap,omitempty" caddy:"namespace=caddy.logging.encoders inline_key=format"`

	wrapped          zapcore.Encoder
	wrappedIsDefault bool
	ctx              caddy.Context

	// fields are the context fields not yet encoded, in the order they
	// came.
	fields []zapcore.Field
}

// CaddyModule returns the Caddy module information.
func (LazyEncoder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.encoders.lazy",
		New: func() caddy.Module { return new(LazyEncoder) },
	}
}

// Provision refuses an encoder around this one, and loads the wrapped
// encoder.
func (le *LazyEncoder) Provision(ctx caddy.Context) error {
	if err := checkOutermost(ctx); err != nil {
		return err
	}
	le.ctx = ctx
	if le.WrappedRaw == nil {
		le.wrappedIsDefault = true
		return le.setWrapped(&logging.JSONEncoder{})
	}
	mod, err := ctx.LoadModule(le, "WrappedRaw")
	if err != nil {
		return fmt.Errorf("loading the encoder that lazy wraps: %w", err)
	}
	le.wrapped = mod.(zapcore.Encoder)
	return nil
}

// checkOutermost refuses a lazy encoder that another encoder (lazy
// aside) wraps. An encoder that wraps another may write an object's
// members into the encoder it wraps while that one writes the object:
// Caddy's filter encoder hands the wrapped encoder's AddObject a marshaler
// that writes into the wrapped encoder again, not into the one it is
// given. Lazy writes the object only with the entry, when those members
// land in its pending fields instead (and in the next entries of a With
// logger). Outermost, lazy defers the other encoder's work as well.
func checkOutermost(ctx caddy.Context) error {
	mods := ctx.Modules() // the last is this encoder
	if len(mods) < 2 {
		return nil
	}
	parent := mods[len(mods)-2]
	if _, ok := parent.(*LazyEncoder); ok {
		return nil
	}
	if _, ok := parent.(zapcore.Encoder); !ok {
		return nil
	}
	name := parent.CaddyModule().ID.Name()
	return fmt.Errorf("the lazy log encoder cannot be wrapped by %s: an encoder that wraps another, as filter does, "+
		"may write an object's members into it while it writes the object, and lazy writes objects later, "+
		"so they would be empty; put lazy outermost: format lazy { wrap %s { ... } }", name, name)
}

// setWrapped provisions enc and makes it the wrapped encoder.
func (le *LazyEncoder) setWrapped(enc zapcore.Encoder) error {
	if p, ok := enc.(caddy.Provisioner); ok {
		if err := p.Provision(le.ctx); err != nil {
			return fmt.Errorf("provisioning the encoder that lazy wraps: %w", err)
		}
	}
	le.wrapped = enc
	return nil
}

// ConfigureDefaultFormat picks the console format for a default-wrapped
// encoder whose log goes to a terminal, as Caddy does for its own default
// log, and passes the writer on to a wrapped encoder that wants it.
func (le *LazyEncoder) ConfigureDefaultFormat(wo caddy.WriterOpener) error {
	if !le.wrappedIsDefault {
		if cfd, ok := le.wrapped.(caddy.ConfiguresFormatterDefault); ok {
			return cfd.ConfigureDefaultFormat(wo)
		}
		return nil
	}
	if caddy.IsWriterStandardStream(wo) && term.IsTerminal(int(os.Stderr.Fd())) {
		return le.setWrapped(&logging.ConsoleEncoder{})
	}
	return nil
}

// UnmarshalCaddyfile sets up the encoder from Caddyfile tokens. Syntax:
//
//	lazy {
//		wrap <another encoder>
//	}
func (le *LazyEncoder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the encoder's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if d.Val() != "wrap" {
			return d.Errf("unrecognized subdirective %s", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		name := d.Val()
		unm, err := caddyfile.UnmarshalModule(d, "caddy.logging.encoders."+name)
		if err != nil {
			return err
		}
		enc, ok := unm.(zapcore.Encoder)
		if !ok {
			return d.Errf("module %s (%T) is not a zapcore.Encoder", name, unm)
		}
		le.WrappedRaw = caddyconfig.JSONModuleObject(enc, "format", name, nil)
	}
	return nil
}

// Clone returns an encoder with the same pending fields, to which fields
// can be added without changing this one's.
func (le *LazyEncoder) Clone() zapcore.Encoder {
	// Room for a With call's few fields, so that adding them allocates
	// once; appends to the clone never reach the fields it copied.
	fields := make([]zapcore.Field, len(le.fields), len(le.fields)+withRoom)
	copy(fields, le.fields)
	return &LazyEncoder{wrapped: le.wrapped, fields: fields}
}

// withRoom is how many fields a clone has room for: Caddy's reverse proxy
// adds three on every round trip.
const withRoom = 4

// EncodeEntry encodes the pending context fields into a clone of the
// wrapped encoder, then the entry and its own fields.
func (le *LazyEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	enc := le.wrapped.Clone()
	for i := range le.fields {
		le.fields[i].AddTo(enc)
	}
	return enc.EncodeEntry(ent, fields)
}

// add keeps a context field for later. The Add methods below are how zap
// hands a With logger's fields to its encoder (Field.AddTo); each keeps
// its field as the matching zap constructor makes it, and the field's own
// AddTo replays it into the wrapped encoder, errors included.
func (le *LazyEncoder) add(f zapcore.Field) { le.fields = append(le.fields, f) }

// AddArray keeps an array field.
func (le *LazyEncoder) AddArray(k string, v zapcore.ArrayMarshaler) error {
	le.add(zap.Array(k, v))
	return nil
}

// AddObject keeps an object field.
func (le *LazyEncoder) AddObject(k string, v zapcore.ObjectMarshaler) error {
	le.add(zap.Object(k, v))
	return nil
}

// AddReflected keeps a field to be encoded by reflection.
func (le *LazyEncoder) AddReflected(k string, v any) error {
	le.add(zap.Reflect(k, v))
	return nil
}

// OpenNamespace keeps a namespace: the fields after it nest in it.
func (le *LazyEncoder) OpenNamespace(k string) { le.add(zap.Namespace(k)) }

// AddBinary keeps a copy of a binary field: the caller may reuse its
// slice once With returns.
func (le *LazyEncoder) AddBinary(k string, v []byte) { le.add(zap.Binary(k, bytes.Clone(v))) }

// AddByteString keeps a copy of a UTF-8 byte string field, as AddBinary.
func (le *LazyEncoder) AddByteString(k string, v []byte) { le.add(zap.ByteString(k, bytes.Clone(v))) }

// AddBool keeps a bool field.
func (le *LazyEncoder) AddBool(k string, v bool) { le.add(zap.Bool(k, v)) }

// AddComplex128 keeps a complex128 field.
func (le *LazyEncoder) AddComplex128(k string, v complex128) { le.add(zap.Complex128(k, v)) }

// AddComplex64 keeps a complex64 field.
func (le *LazyEncoder) AddComplex64(k string, v complex64) { le.add(zap.Complex64(k, v)) }

// AddDuration keeps a duration field.
func (le *LazyEncoder) AddDuration(k string, v time.Duration) { le.add(zap.Duration(k, v)) }

// AddFloat64 keeps a float64 field.
func (le *LazyEncoder) AddFloat64(k string, v float64) { le.add(zap.Float64(k, v)) }

// AddFloat32 keeps a float32 field.
func (le *LazyEncoder) AddFloat32(k string, v float32) { le.add(zap.Float32(k, v)) }

// AddInt keeps an int field.
func (le *LazyEncoder) AddInt(k string, v int) { le.add(zap.Int(k, v)) }

// AddInt64 keeps an int64 field.
func (le *LazyEncoder) AddInt64(k string, v int64) { le.add(zap.Int64(k, v)) }

// AddInt32 keeps an int32 field.
func (le *LazyEncoder) AddInt32(k string, v int32) { le.add(zap.Int32(k, v)) }

// AddInt16 keeps an int16 field.
func (le *LazyEncoder) AddInt16(k string, v int16) { le.add(zap.Int16(k, v)) }

// AddInt8 keeps an int8 field.
func (le *LazyEncoder) AddInt8(k string, v int8) { le.add(zap.Int8(k, v)) }

// AddString keeps a string field.
func (le *LazyEncoder) AddString(k, v string) { le.add(zap.String(k, v)) }

// AddTime keeps a time field.
func (le *LazyEncoder) AddTime(k string, v time.Time) { le.add(zap.Time(k, v)) }

// AddUint keeps a uint field.
func (le *LazyEncoder) AddUint(k string, v uint) { le.add(zap.Uint(k, v)) }

// AddUint64 keeps a uint64 field.
func (le *LazyEncoder) AddUint64(k string, v uint64) { le.add(zap.Uint64(k, v)) }

// AddUint32 keeps a uint32 field.
func (le *LazyEncoder) AddUint32(k string, v uint32) { le.add(zap.Uint32(k, v)) }

// AddUint16 keeps a uint16 field.
func (le *LazyEncoder) AddUint16(k string, v uint16) { le.add(zap.Uint16(k, v)) }

// AddUint8 keeps a uint8 field.
func (le *LazyEncoder) AddUint8(k string, v uint8) { le.add(zap.Uint8(k, v)) }

// AddUintptr keeps a uintptr field.
func (le *LazyEncoder) AddUintptr(k string, v uintptr) { le.add(zap.Uintptr(k, v)) }

// Interface guards
var (
	_ zapcore.Encoder                  = (*LazyEncoder)(nil)
	_ caddy.Provisioner                = (*LazyEncoder)(nil)
	_ caddy.ConfiguresFormatterDefault = (*LazyEncoder)(nil)
	_ caddyfile.Unmarshaler            = (*LazyEncoder)(nil)
)
