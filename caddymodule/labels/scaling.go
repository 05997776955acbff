package labels

// This file reads a service's scaling labels: the bounds within which its
// replica count may be changed, when it sleeps, and the load per replica.
// The gateway reads them to decide a count, docker-api to check one.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// Scaling label names, relative to the label prefix ("faas.scale.min").
const (
	Scale       = "scale"
	ScaleMin    = "min"
	ScaleMax    = "max"
	ScaleIdle   = "idle"
	ScaleTarget = "target"
)

// scaleFields are the labels under `<prefix>.scale.`.
var scaleFields = []string{ScaleMin, ScaleMax, ScaleIdle, ScaleTarget}

// DefaultScaleTarget is the requests in flight per replica that a service
// without a target label is scaled for (Knative's default concurrency
// target).
const DefaultScaleTarget = 100

// MaxReplicas is the highest replica count a label may name: far above
// what a swarm runs of one service, low enough that no label arithmetic
// overflows.
const MaxReplicas = 1 << 20

// Scaling is what a service's scaling labels allow. Its type is the
// autoscaler's (scaling.Spec), which the routes carry: labels only reads
// it.
type Scaling = scaling.Spec

// ParseScaling reads the scaling labels of one service: `<prefix>.scale.max`
// (required once any scaling label is set), `.min` (default 0 with an idle
// time, else 1), `.idle` (a Go duration such as 10m) and `.target`
// (requests in flight per replica, default DefaultScaleTarget). It returns
// false and no error when the service sets none of them: it is never
// scaled. A malformed or contradictory label returns an error naming it.
func ParseScaling(labels map[string]string, prefix string) (Scaling, bool, error) {
	l := labelReader{labels: labels, prefix: prefix + "." + Scale + "."}
	if !l.any() {
		return Scaling{}, false, nil
	}
	if err := l.unknown("scaling field", scaleFields); err != nil {
		return Scaling{}, true, err
	}
	var s Scaling
	v, ok := l.get(ScaleMax)
	if !ok {
		return s, true, fmt.Errorf("label %s%s is required with the other %s* labels: want the most replicas, from 1 to %d", l.prefix, ScaleMax, l.prefix, MaxReplicas)
	}
	var err error
	if s.Max, err = l.count(ScaleMax, v, 1); err != nil {
		return s, true, err
	}
	if v, ok := l.get(ScaleIdle); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return s, true, fmt.Errorf("label %s%s=%q: want a positive duration such as 10m or 30s", l.prefix, ScaleIdle, v)
		}
		s.Idle = d
	}
	s.Min = 1
	if s.Idle > 0 {
		s.Min = 0
	}
	if v, ok := l.get(ScaleMin); ok {
		if s.Min, err = l.count(ScaleMin, v, 0); err != nil {
			return s, true, err
		}
		if s.Min == 0 && s.Idle == 0 {
			return s, true, fmt.Errorf("label %s%s=%q: 0 replicas needs an idle time (%s%s)", l.prefix, ScaleMin, v, l.prefix, ScaleIdle)
		}
	}
	if s.Min > s.Max {
		return s, true, fmt.Errorf("label %s%s=%d is above %s%s=%d", l.prefix, ScaleMin, s.Min, l.prefix, ScaleMax, s.Max)
	}
	s.Target = DefaultScaleTarget
	if v, ok := l.get(ScaleTarget); ok {
		if s.Target, err = l.count(ScaleTarget, v, 1); err != nil {
			return s, true, err
		}
	}
	return s, true, nil
}

// any reports whether a label under the reader's prefix is set.
func (l labelReader) any() bool {
	for k := range l.labels {
		if strings.HasPrefix(k, l.prefix) {
			return true
		}
	}
	return false
}

// unknown reports a label under the reader's prefix that is not one of
// fields; kind names them in the error.
func (l labelReader) unknown(kind string, fields []string) error {
	for k := range l.labels {
		if f, ok := strings.CutPrefix(k, l.prefix); ok && !slices.Contains(fields, f) {
			return fmt.Errorf("label %s: unknown %s %q (want one of %s)", k, kind, f, strings.Join(fields, ", "))
		}
	}
	return nil
}

// count reads label name's value v as a whole number from least to
// MaxReplicas.
func (l labelReader) count(name, v string, least uint64) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || n < least || n > MaxReplicas {
		return 0, fmt.Errorf("label %s%s=%q: want a whole number from %d to %d", l.prefix, name, v, least, MaxReplicas)
	}
	return n, nil
}
