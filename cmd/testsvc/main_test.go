package main

import (
	"net"
	"testing"
)

func TestHealthzURL(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{":8080", "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"[::]:8080", "http://127.0.0.1:8080/healthz"},
		{"127.0.0.2:8080", "http://127.0.0.2:8080/healthz"},
		{"[::1]:8080", "http://[::1]:8080/healthz"},
		{"localhost:8080", "http://localhost:8080/healthz"},
	} {
		if got, err := healthzURL(tt.addr); err != nil || got != tt.want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	if got, err := healthzURL("8080"); err == nil {
		t.Errorf("healthzURL(\"8080\") = %q, want an error (no port)", got)
	}
}

// TestProbe runs -healthcheck's probe against a live server and a port
// nothing listens on.
func TestProbe(t *testing.T) {
	ts, _ := startService(t)
	if err := probe(ts.Listener.Addr().String()); err != nil {
		t.Errorf("probe of the live server: %v", err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	if err := probe(deadAddr); err == nil {
		t.Errorf("probe(%q) succeeded with nothing listening", deadAddr)
	}
}
