// Fields: the allowlist of the JSON fields that leave the engine in
// answers to /services, /tasks, /networks, /containers/json and
// /containers/{id}/json, and the filter that applies
// it. It lists what is kept; everything else (environment, secrets,
// configs, mounts, command, image, container labels, and any field a
// future Docker adds) is dropped.

package dockerapi

import (
	"encoding/json"
	"strings"
)

// A shape is an allowlist for one JSON value: what of it is kept.
type shape struct {
	kind shapeKind
	// fields are an object's kept members, each with its own shape.
	fields map[string]*shape
	// elem is the shape of every element of an array.
	elem *shape
	// keep says which members of a string map (labels) are kept.
	keep func(key string) bool
}

type shapeKind int

const (
	scalarShape shapeKind = iota // a string, number, boolean or null
	objectShape                  // an object with the members in fields
	arrayShape                   // an array of elem
	mapShape                     // an object of strings, members chosen by keep
	mapOfShape                   // an object of any members, each of elem
)

var scalar = &shape{kind: scalarShape}

func object(fields map[string]*shape) *shape { return &shape{kind: objectShape, fields: fields} }

func arrayOf(elem *shape) *shape { return &shape{kind: arrayShape, elem: elem} }

func stringMap(keep func(string) bool) *shape { return &shape{kind: mapShape, keep: keep} }

// mapOf is an object whose members, whatever their names (a container's
// networks, by name), are each of shape elem.
func mapOf(elem *shape) *shape { return &shape{kind: mapOfShape, elem: elem} }

// object with the named scalar members.
func scalars(names ...string) *shape {
	fields := make(map[string]*shape, len(names))
	for _, n := range names {
		fields[n] = scalar
	}
	return object(fields)
}

// stackNamespaceLabel is set by `docker stack deploy` on every service; the
// gateway reads it to drop the stack's name from a service's default path.
const stackNamespaceLabel = "com.docker.stack.namespace"

// serviceShape is what of a service (GET /services) the gateway reads:
// its name, creation time (the oldest claim on a path wins), version,
// routing labels, mode and replica count, networks, endpoint mode and
// virtual IPs, published ports, and whether it converges (update state,
// task counts).
func serviceShape(labelPrefix string) *shape {
	return object(map[string]*shape{
		"ID":        scalar,
		"Version":   scalars("Index"),
		"CreatedAt": scalar,
		"UpdatedAt": scalar,
		"Spec": object(map[string]*shape{
			"Name": scalar,
			"Labels": stringMap(func(k string) bool {
				return strings.HasPrefix(k, labelPrefix+".") || k == stackNamespaceLabel
			}),
			"Mode": object(map[string]*shape{
				"Replicated":    scalars("Replicas"),
				"Global":        scalars(),
				"ReplicatedJob": scalars("MaxConcurrent", "TotalCompletions"),
				"GlobalJob":     scalars(),
			}),
			"TaskTemplate": object(map[string]*shape{
				"Networks": arrayOf(object(map[string]*shape{
					"Target":  scalar,
					"Aliases": arrayOf(scalar),
				})),
			}),
			"EndpointSpec": scalars("Mode"),
		}),
		"Endpoint": object(map[string]*shape{
			"VirtualIPs": arrayOf(scalars("NetworkID", "Addr")),
			// The published ports: how the services of an engine that
			// is not the gateway's own are reached (docs/engines.md).
			"Ports": arrayOf(scalars("Protocol", "TargetPort", "PublishedPort", "PublishMode")),
		}),
		"UpdateStatus":  scalars("State"),
		"ServiceStatus": scalars("RunningTasks", "DesiredTasks", "CompletedTasks"),
	})
}

// taskShape is what of a task (GET /tasks) the gateway reads: its service,
// states and addresses; and, for task names (service name and slot, or
// node for a global service), its slot and node.
var taskShape = object(map[string]*shape{
	"ID":           scalar,
	"ServiceID":    scalar,
	"NodeID":       scalar,
	"Slot":         scalar,
	"CreatedAt":    scalar,
	"DesiredState": scalar,
	"Status":       scalars("State", "Timestamp"),
	"NetworksAttachments": arrayOf(object(map[string]*shape{
		"Network":   scalars("ID"),
		"Addresses": arrayOf(scalar),
	})),
})

// networkShape is what of a network (GET /networks) the gateway reads:
// its identity, whether it is the ingress network, and its subnets (to
// tell the networks the gateway has an address in). Networks spell their
// ID "Id".
var networkShape = object(map[string]*shape{
	"Id":      scalar,
	"Name":    scalar,
	"Driver":  scalar,
	"Scope":   scalar,
	"Ingress": scalar,
	"IPAM": object(map[string]*shape{
		"Config": arrayOf(scalars("Subnet")),
	}),
})

// Labels that docker sets on containers, which the gateway reads: the
// compose project and service (a compose service's containers are one
// route's upstreams, its name the default prefix).
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
	swarmTaskLabel      = "com.docker.swarm.task.id"
)

// containerShape is what of a container (GET /containers/json) the
// gateway reads: its ID, name, creation time (the oldest claim wins),
// state and status (running, health), routing and compose labels, its
// addresses by network, and its published ports (how the containers of an
// engine that is not the gateway's own are reached). Not its image,
// command, mounts or any other label.
func containerShape(labelPrefix string) *shape {
	return object(map[string]*shape{
		"Id":      scalar,
		"Names":   arrayOf(scalar),
		"Created": scalar,
		"State":   scalar,
		"Status":  scalar,
		"Labels": stringMap(func(k string) bool {
			return strings.HasPrefix(k, labelPrefix+".") || k == composeProjectLabel || k == composeServiceLabel
		}),
		"NetworkSettings": object(map[string]*shape{
			"Networks": mapOf(scalars("NetworkID", "IPAddress")),
		}),
		"Ports": arrayOf(scalars("IP", "PrivatePort", "PublicPort", "Type")),
	})
}

// inspectShape is what of one container (GET /containers/{id}/json) the
// gateway reads: its stop signal.
var inspectShape = object(map[string]*shape{
	"Id":     scalar,
	"Config": scalars("StopSignal"),
})

// filter returns what s keeps of v, a value decoded by encoding/json with
// UseNumber, and false when nothing of it is kept: a value of the wrong
// type is dropped whole. null is kept wherever it appears.
func (s *shape) filter(v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch s.kind {
	case scalarShape:
		switch v.(type) {
		case string, bool, json.Number:
			return v, true
		}
	case objectShape:
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any, len(s.fields))
		for name, fs := range s.fields {
			if fv, ok := obj[name]; ok {
				if kept, ok := fs.filter(fv); ok {
					out[name] = kept
				}
			}
		}
		return out, true
	case arrayShape:
		arr, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			if kept, ok := s.elem.filter(e); ok {
				out = append(out, kept)
			}
		}
		return out, true
	case mapOfShape:
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any, len(obj))
		for k, mv := range obj {
			if kept, ok := s.elem.filter(mv); ok {
				out[k] = kept
			}
		}
		return out, true
	case mapShape:
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any)
		for k, mv := range obj {
			if str, ok := mv.(string); ok && s.keep(k) {
				out[k] = str
			}
		}
		return out, true
	}
	return nil, false
}
