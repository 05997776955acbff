// Package scaling is the autoscaler: it counts each scaled service's
// requests in flight on the request path (Load), decides its replica
// count from the load of every gateway (Decider, modelled on Knative's
// KPA), puts an idle service to sleep and wakes it on a request
// (Autoscaler), and says what it decided for the routes API and the
// metrics. It knows neither Docker nor Caddy: it reads the scaled services
// through a function, writes counts through a Scaler, and learns of the
// other gateways through Peers (package peers exchanges the reports).
//
// Files: spec.go (what the scaling labels allow), load.go (the per-service
// counter), decider.go (the count from the load), autoscaler.go (the loop,
// sleep and wake), peers.go (the other gateways), metrics.go (Prometheus).
package scaling
