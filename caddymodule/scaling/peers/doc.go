// Package peers lets the gateways of one swarm share their load so that one
// of them decides for all.
//
// Each gateway serves its own report (scaling.Report, JSON) over HTTPS with
// mutual TLS on [Config.Port], and polls every other gateway's report every
// [Config.Interval]. The gateways find each other by resolving [Config.Name]
// (tasks.<gateway service> on their shared network) on every poll; a gateway
// finds itself in the answer by its own addresses ([Config.Self], detected
// from the interfaces when empty).
//
// # Authentication
//
// Both ends present a certificate chained to [Config.CAFile]. The server
// requires a client certificate with the clientAuth usage; the poller dials
// a peer by IP address but verifies the peer's certificate chain, its
// serverAuth usage and the DNS name [Config.ServerName] (default
// "faas-gateway") among its subject alternative names, so a certificate from
// another CA, or another certificate of the same CA (docker-api's), cannot
// pass for a gateway. The gateway certificate therefore needs both usages
// and that name. A report is decoded strictly (no unknown field, no trailing
// data, at most [maxBody] bytes) and refused whole if any value is absurd
// (negative, not finite, or beyond [maxInFlight] or [maxRequests]).
//
// # Who decides
//
// A peer is live while it is in the latest answer and answered within
// Interval × Misses (default 1 s × 3). The live gateway with the lowest
// address, this one included, decides (Leader is true there). A gateway
// whose own address is not in the answer (the name does not resolve, or a
// single gateway outside a swarm) decides alone; when the name stops
// resolving, the last answer is kept. A gateway claims the decision only
// once it has polled twice (one Interval after Start), so the others have
// seen it before it acts.
//
// When the deciding gateway stops answering, it is dropped Interval × Misses
// after its last answer was received, and that answer was received before
// the stop plus at most one fetch (a fetch times out within one Interval):
// the next lowest gateway decides within Interval × (Misses + 1) of the
// stop, 4 s with the defaults. A gateway whose task ends is usually dropped
// from the answer sooner, at the next poll.
package peers
