// placeholder: the scaling helper owns this file; its shapes are fixed

package scaling

// Report is one gateway's load, keyed by "<engine>/<service ID>".
type Report struct {
	Gateway  string
	Services map[string]ServiceLoad
}

// ServiceLoad is one service's load as one gateway sees it.
type ServiceLoad struct {
	// InFlight is the average number of requests in flight over the last tick.
	InFlight float64
	// Requests counts the requests seen since start (monotonic).
	Requests uint64
}

// Peers tells the scaler whether this gateway decides now and what the
// others see.
type Peers interface {
	// Leader reports whether this gateway decides now.
	Leader() bool
	// Reports returns the latest report of every other live gateway.
	Reports() []Report
}
