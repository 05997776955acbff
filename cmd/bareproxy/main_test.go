package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxy: requests go to the upstreams in turn, with the prefix
// stripped and the query kept.
func TestProxy(t *testing.T) {
	var upstreams []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Forwarded-Host"))
		}))
		t.Cleanup(srv.Close)
		upstreams = append(upstreams, strings.TrimPrefix(srv.URL, "http://"))
	}
	proxy, err := newProxy("/multiply", upstreams)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	var got []string
	for range 4 {
		res, err := http.Get(front.URL + "/multiply/api/v1/add?x=1&y=2")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got = append(got, string(body))
	}
	host := strings.TrimPrefix(front.URL, "http://")
	want := []string{"a /api/v1/add?x=1&y=2 " + host, "b /api/v1/add?x=1&y=2 " + host, "a /api/v1/add?x=1&y=2 " + host, "b /api/v1/add?x=1&y=2 " + host}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("answers\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := newProxy("", []string{"http://x:1"}); err == nil {
		t.Error("an upstream URL with a scheme was accepted")
	}
}
