package scaling

// This file says what the autoscaler knows of the other gateways: whether
// this one decides, and the others' load.

// Peers are the other gateways that serve the same services. Exactly one
// gateway of those that serve a swarm's services should be the Leader at
// a time: it alone scales services down, up and to sleep; every gateway
// wakes a sleeping service on its own requests.
type Peers interface {
	// Leader reports whether this gateway decides.
	Leader() bool
	// Reports returns the latest load of every other gateway (not this
	// one's), as each last reported it.
	Reports() []Report
}

// Report is one gateway's load: what it serves to its peers (see
// Autoscaler.Report) and what they read of it.
type Report struct {
	// Gateway names the gateway that reports.
	Gateway string `json:"gateway"`
	// Services are its loads by Key: of every scaled service it routes.
	Services map[string]ServiceLoad `json:"services"`
}

// ServiceLoad is one service's load on one gateway.
type ServiceLoad struct {
	// InFlight are its requests in flight (sampled at the report).
	InFlight float64 `json:"in_flight"`
	// Requests are the requests it has started, a count that only grows
	// (and wraps): a change says that the gateway saw a request.
	Requests uint64 `json:"requests"`
}

// Single are the peers of a gateway alone: it is always the leader and
// hears no report. It is the default.
type Single struct{}

// Leader reports true: a gateway alone decides.
func (Single) Leader() bool { return true }

// Reports returns none.
func (Single) Reports() []Report { return nil }

var _ Peers = Single{}
