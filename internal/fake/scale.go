package fake

// This file holds the engine's answer to docker-api's scale call, as
// docker-api makes it: the service named must be enabled and carry valid
// scaling labels that allow the count.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/swarm"

	"github.com/faas-gateway/faas-gateway/caddymodule/labels"
)

// scalePath parses docker-api's scale path, /faas/services/{id}/scale,
// into the service it names.
func scalePath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/faas/services/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/scale")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// serveScale sets the replica count of service id, by ID or name, as
// docker-api would (without its retries), records it in Scales, and then
// calls OnScale. fe.mu is not held.
func (fe *Engine) serveScale(w http.ResponseWriter, r *http.Request, id string) {
	w.Header().Set("Content-Type", "application/json")
	n, err := strconv.ParseUint(r.URL.Query().Get("replicas"), 10, 64)
	if r.Method != http.MethodPost || err != nil {
		http.Error(w, `{"message":"403 forbidden: want POST with replicas=N"}`, http.StatusForbidden)
		return
	}
	fe.mu.Lock()
	svc := fe.service(id)
	var problem string
	switch spec, on, err := labels.ParseScaling(svcLabels(svc), "faas"); {
	case svc == nil || svcLabels(svc)["faas.enable"] != "true":
		fe.mu.Unlock()
		http.Error(w, fmt.Sprintf(`{"message":"service %s not found"}`, id), http.StatusNotFound)
		return
	case err != nil:
		problem = err.Error()
	case !on:
		problem = "the service has no scaling labels"
	default:
		if err := spec.Allows(n); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		fe.mu.Unlock()
		http.Error(w, fmt.Sprintf(`{"message":%q}`, "403 forbidden: "+problem), http.StatusForbidden)
		return
	}
	svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	svc.Version.Index++
	fe.Scales = append(fe.Scales, fmt.Sprintf("%s=%d", svc.ID, n))
	fe.send(events.Message{Type: events.ServiceEventType, Action: "update", Actor: events.Actor{ID: svc.ID}, Scope: "swarm", Time: time.Now().Unix()})
	onScale, sid := fe.OnScale, svc.ID
	fe.mu.Unlock()
	if onScale != nil {
		onScale(sid, n)
	}
	fmt.Fprintf(w, `{"ID":%q,"Replicas":%d}`+"\n", sid, n)
}

// service returns the service of ID or name id, or nil. fe.mu is held.
func (fe *Engine) service(id string) *swarm.Service {
	for i := range fe.Services {
		if s := &fe.Services[i]; s.ID == id || s.Spec.Name == id {
			return s
		}
	}
	return nil
}

// svcLabels are the labels of svc, nil for none.
func svcLabels(svc *swarm.Service) map[string]string {
	if svc == nil {
		return nil
	}
	return svc.Spec.Labels
}

// ScaleCalls returns the scale calls the engine made, "id=N" each.
func (fe *Engine) ScaleCalls() []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	return append([]string(nil), fe.Scales...)
}
