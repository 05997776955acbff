// Command bareproxy is the bench's ceiling: Go's own reverse proxy
// (net/http/httputil, what Traefik builds on) spreading requests round
// robin over upstreams fixed at start, and nothing else: no retries, no
// health checks, no logging, no placeholders. It shows how far any
// gateway built on Go's HTTP stack can go past Caddy on this machine.
//
//	bareproxy [-listen :8081] [-strip /multiply] host:port...
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", ":8081", "address to serve on")
	strip := flag.String("strip", "", "path prefix to remove before proxying")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: bareproxy [-listen addr] [-strip prefix] host:port...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	handler, err := newProxy(*strip, flag.Args())
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("bareproxy: %s -> %v", *listen, flag.Args())
	log.Fatal(srv.ListenAndServe())
}

// newProxy returns a reverse proxy to upstreams (host:port), in turn,
// with prefix stripped from each request's path.
func newProxy(prefix string, upstreams []string) (*httputil.ReverseProxy, error) {
	targets := make([]*url.URL, len(upstreams))
	for i, u := range upstreams {
		t, err := url.Parse("http://" + u)
		if err != nil || t.Host != u {
			return nil, fmt.Errorf("upstream %q: want host:port", u)
		}
		targets[i] = t
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Path = strings.TrimPrefix(r.Out.URL.Path, prefix)
			r.Out.URL.RawPath = ""
			r.SetURL(targets[(next.Add(1)-1)%uint64(len(targets))])
			r.SetXForwarded()
		},
		// Go's defaults, with as many idle connections kept per replica as
		// Caddy keeps (32).
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     2 * time.Minute,
		},
	}, nil
}
