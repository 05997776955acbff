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

// Scaling is what a service's scaling labels allow: its replica count may
// be set to any count from Min to Max, and to 0 (asleep) when it has an
// idle time.
type Scaling struct {
	// Min and Max bound the replica count while the service is awake.
	// Min is 0 only when Idle is set.
	Min, Max uint64
	// Idle is how long a service goes without a request before it sleeps
	// (0 replicas); 0: it never sleeps.
	Idle time.Duration
	// Target is the requests in flight per replica the count follows.
	Target uint64
}

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

// Allows says why a service scaled by s may not run n replicas, or
// returns nil when it may: n from Min to Max, or 0 with an idle time.
func (s Scaling) Allows(n uint64) error {
	switch {
	case n == 0 && s.Idle > 0:
		return nil
	case n == 0:
		return fmt.Errorf("0 replicas: the service has no idle time, so it never sleeps")
	case n < max(s.Min, 1) || n > s.Max:
		return fmt.Errorf("%d replicas: the service's labels allow %d to %d", n, max(s.Min, 1), s.Max)
	}
	return nil
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
