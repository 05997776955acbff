// Allowlist: the Docker API calls docker-api lets through, the one source
// of truth for them. The table in docs/docker-api.md and the end-to-end
// checks of what the gateway calls are both tested against it.

package dockerapi

import (
	"regexp"
	"slices"
	"strings"
)

// Endpoint is one Docker API endpoint that docker-api lets through.
type Endpoint struct {
	// Methods are the HTTP methods allowed on it.
	Methods []string
	// Path is the endpoint without the optional API version prefix
	// (/v1.NN), which every endpoint accepts.
	Path string
	// Why says in one line what it is for.
	Why string

	// answer says how its answer is filtered on the way back.
	answer answerKind
}

// answerKind is how docker-api treats an endpoint's answer.
type answerKind int

const (
	// passAnswer passes the answer through unchanged.
	passAnswer answerKind = iota
	// serviceAnswer keeps the labelled services, and of each only the
	// fields the gateway reads.
	serviceAnswer
	// taskAnswer keeps the tasks of labelled services, and of each only
	// the fields the gateway reads.
	taskAnswer
	// networkAnswer keeps, of each network, only the fields the gateway reads.
	networkAnswer
	// containerAnswer keeps the labelled containers (not those of swarm
	// tasks), and of each only the fields the gateway reads.
	containerAnswer
	// inspectAnswer keeps, of a labelled container, only its stop signal;
	// any other container is answered as missing.
	inspectAnswer
	// eventAnswer streams events: of the service and network types, or
	// of the labelled containers.
	eventAnswer
	// scaleAnswer is no call of dockerd's: docker-api makes the write
	// itself (scale.go).
	scaleAnswer
)

// Allowlist is every call docker-api lets through; it refuses all others
// with 403. All are reads but the scale call, docker-api's own, which
// sets the replica count of a service that opted in to scaling and
// nothing else.
var Allowlist = []Endpoint{
	{
		Methods: []string{"HEAD", "GET"}, Path: "/_ping",
		Why: "API version negotiation (the client sends HEAD, and GET where HEAD is refused)",
	},
	{
		Methods: []string{"GET"}, Path: "/version",
		Why: "engine and API version, for `docker version` and troubleshooting (the gateway itself does not call it)",
	},
	{
		Methods: []string{"GET"}, Path: "/services",
		Why:    "services that opt in, with running/desired task counts; only labelled services, and only the fields the gateway reads, leave the manager",
		answer: serviceAnswer,
	},
	{
		Methods: []string{"GET"}, Path: "/tasks",
		Why:    "the tasks of those services and their addresses; only the fields the gateway reads leave the manager",
		answer: taskAnswer,
	},
	{
		Methods: []string{"GET"}, Path: "/networks",
		Why:    "network names and subnets, to find the networks shared with the gateway; only those fields leave the manager",
		answer: networkAnswer,
	},
	{
		Methods: []string{"GET"}, Path: "/containers/json",
		Why:    "standalone containers that opt in, their state, health and addresses; only labelled containers, and only the fields the gateway reads, leave the engine",
		answer: containerAnswer,
	},
	{
		Methods: []string{"GET"}, Path: "/containers/{id}/json",
		Why:    "a labelled container's stop signal, asked once when a kill event carries a signal other than SIGTERM and SIGKILL; nothing else of it leaves the engine",
		answer: inspectAnswer,
	},
	{
		Methods: []string{"GET"}, Path: "/events",
		Why:    "the trigger for re-listing (not with `poll_only`); only service and network events, or the labelled containers' events, are delivered",
		answer: eventAnswer,
	},
	{
		Methods: []string{"POST"}, Path: ScalePath,
		Why:    "docker-api's own call, not dockerd's: sets the replica count (`?replicas=N`, no body) of a service with the enable and scaling labels, within their bounds, and nothing else; docker-api reads the spec and makes the update itself",
		answer: scaleAnswer,
	},
}

// idSegment is what a path's {id} stands for: a container's or service's
// ID or name.
var idSegment = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// matches reports whether a path (without its version prefix) is the
// endpoint's: equal, an {id} segment standing for any ID or name.
func (e Endpoint) matches(path string) bool {
	if !strings.Contains(e.Path, "{id}") {
		return e.Path == path
	}
	want, got := strings.Split(e.Path, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if w != got[i] && (w != "{id}" || !idSegment.MatchString(got[i])) {
			return false
		}
	}
	return true
}

// versionPrefix matches the optional API version that starts a path.
var versionPrefix = regexp.MustCompile(`^/v1\.[0-9]+`)

// Allows reports whether the allowlist lets method through on path (a
// clean request path, without its query).
func Allows(method, path string) bool {
	_, _, ok := lookup(method, path)
	return ok
}

// lookup finds the endpoint that lets method through on path, and returns
// it with the path's version prefix ("" or "/v1.NN").
func lookup(method, path string) (Endpoint, string, bool) {
	version := versionPrefix.FindString(path)
	rest := path[len(version):]
	for _, e := range Allowlist {
		if e.matches(rest) && slices.Contains(e.Methods, method) {
			return e, version, true
		}
	}
	return Endpoint{}, "", false
}
