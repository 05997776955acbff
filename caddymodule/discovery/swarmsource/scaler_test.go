package swarmsource

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/caddymodule/discovery/engine"
)

// scaleServer is a Docker API that records the calls it gets and answers
// each with answer.
type scaleServer struct {
	mu     sync.Mutex
	calls  []string // method, path and query
	bodies []string
	answer func(w http.ResponseWriter, r *http.Request)
}

func (s *scaleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.RequestURI())
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	s.answer(w, r)
}

func (s *scaleServer) recorded() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...), append([]string(nil), s.bodies...)
}

// scaleSource is a source of the Docker API at host.
func scaleSource(t *testing.T, o Options) *Source {
	t.Helper()
	o.LabelPrefix, o.APITimeout = "faas", 5*time.Second
	api := testClient(t, o)
	t.Cleanup(func() { _ = api.Close() })
	return newSource(api, o)
}

// TestScaleCallsDockerAPI checks the scale call as docker-api gets it,
// over plain TCP and over the client's TLS, and how its refusals return.
func TestScaleCallsDockerAPI(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[tlsOn], func(t *testing.T) {
			srv := &scaleServer{answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Query().Get("replicas") {
				case "3":
					io.WriteString(w, `{"ID":"x","Replicas":3,"Previous":1}`+"\n")
				case "9":
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, `{"message":"403 forbidden: service faas_multiply: 9 replicas: the service's labels allow 1 to 5"}`+"\n")
				default:
					w.WriteHeader(http.StatusNotFound)
					io.WriteString(w, `{"message":"page not found"}`+"\n")
				}
			}}
			var o Options
			if tlsOn {
				ts := httptest.NewTLSServer(srv)
				t.Cleanup(ts.Close)
				ca := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
				o = Options{Conn: engine.Conn{DockerHost: "tcp://" + ts.Listener.Addr().String(), TLSCA: ca}}
			} else {
				ts := httptest.NewServer(srv)
				t.Cleanup(ts.Close)
				o = Options{Conn: engine.Conn{DockerHost: "tcp://" + ts.Listener.Addr().String()}}
			}
			src := scaleSource(t, o)
			ctx := context.Background()

			if err := src.Scale(ctx, "faas_multiply", 3); err != nil {
				t.Fatalf("Scale to 3: %v", err)
			}
			var se *ScaleError
			err := src.Scale(ctx, "faas_multiply", 9)
			if !errors.As(err, &se) || se.Status != http.StatusForbidden || !strings.Contains(se.Message, "allow 1 to 5") {
				t.Errorf("Scale to 9: %v, want docker-api's 403 and its message", err)
			}
			err = src.Scale(ctx, "faas_multiply", 4)
			if !errors.As(err, &se) || se.Status != http.StatusNotFound || !strings.Contains(se.Message, "needs docker-api in front of it") {
				t.Errorf("Scale on a plain dockerd: %v, want a 404 saying docker-api is needed", err)
			}
			for _, bad := range []string{"", "..", "a/b", "a?replicas=1", "a%2Fb"} {
				if err := src.Scale(ctx, bad, 1); err == nil {
					t.Errorf("Scale(%q) = nil, want an error", bad)
				}
			}

			calls, bodies := srv.recorded()
			want := []string{
				"POST /faas/services/faas_multiply/scale?replicas=3",
				"POST /faas/services/faas_multiply/scale?replicas=9",
				"POST /faas/services/faas_multiply/scale?replicas=4",
			}
			if strings.Join(calls, "\n") != strings.Join(want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
			}
			for _, b := range bodies {
				if b != "" {
					t.Errorf("a scale call with a body: %q", b)
				}
			}
		})
	}
}

// TestScaleOnTheSocket checks that on a Docker socket, with no docker-api
// in front, the scale call is checked in-process: dockerd gets the read
// and the update of the count alone, and a count out of bounds is refused
// without a write.
func TestScaleOnTheSocket(t *testing.T) {
	const id = "9mnpnzenvg8p8tdbtq4wvbkcz"
	srv := &scaleServer{answer: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/services/fn":
			io.WriteString(w, `{"ID":"`+id+`","Version":{"Index":7},"Spec":{"Name":"fn",`+
				`"Labels":{"faas.enable":"true","faas.scale.max":"3"},"Mode":{"Replicated":{"Replicas":1}},`+
				`"TaskTemplate":{"ContainerSpec":{"Image":"fn:1","Env":["A=b"]}}}}`+"\n")
		case r.Method == http.MethodPost && r.URL.Path == "/services/"+id+"/update":
			io.WriteString(w, `{"Warnings":null}`+"\n")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"page not found"}`+"\n")
		}
	}}
	sock := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	src := scaleSource(t, Options{Conn: engine.Conn{DockerHost: "unix://" + sock}})

	var se *ScaleError
	if err := src.Scale(context.Background(), "fn", 4); !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Errorf("Scale to 4: %v, want 403 (the labels allow 1 to 3)", err)
	}
	if err := src.Scale(context.Background(), "fn", 2); err != nil {
		t.Fatalf("Scale to 2: %v", err)
	}
	calls, bodies := srv.recorded()
	want := []string{"GET /services/fn", "GET /services/fn", "POST /services/" + id + "/update?version=7"}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	var spec map[string]any
	if err := json.Unmarshal([]byte(bodies[2]), &spec); err != nil {
		t.Fatal(err)
	}
	wantSpec := map[string]any{"Name": "fn",
		"Labels":       map[string]any{"faas.enable": "true", "faas.scale.max": "3"},
		"Mode":         map[string]any{"Replicated": map[string]any{"Replicas": 2.0}},
		"TaskTemplate": map[string]any{"ContainerSpec": map[string]any{"Image": "fn:1", "Env": []any{"A=b"}}}}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("update posted %s, want %v", bodies[2], wantSpec)
	}
}
