package scaling

// This file holds what a service's scaling labels ask for, as the
// autoscaler and docker-api read it.

import (
	"fmt"
	"time"
)

// Spec is what a service's scaling labels allow (labels.ParseScaling
// reads them into one): its replica count may be set to any count from
// Min to Max, and to 0 (asleep) when it has an idle time.
type Spec struct {
	// Min and Max bound the replica count while the service is awake.
	// Min is 0 only when Idle is set.
	Min, Max uint64
	// Idle is how long a service goes without a request before it sleeps
	// (0 replicas); 0: it never sleeps.
	Idle time.Duration
	// Target is the requests in flight per replica the count follows.
	Target uint64
}

// Awake is the fewest replicas of the service awake: Min, at least 1.
func (s Spec) Awake() uint64 { return max(s.Min, 1) }

// Allows says why a service scaled by s may not run n replicas, or
// returns nil when it may: n from Min to Max, or 0 with an idle time.
func (s Spec) Allows(n uint64) error {
	switch {
	case n == 0 && s.Idle > 0:
		return nil
	case n == 0:
		return fmt.Errorf("0 replicas: the service has no idle time, so it never sleeps")
	case n < s.Awake() || n > s.Max:
		return fmt.Errorf("%d replicas: the service's labels allow %d to %d", n, s.Awake(), s.Max)
	}
	return nil
}
