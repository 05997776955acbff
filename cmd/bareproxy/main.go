// Command bareproxy is the bench's ceiling: Go's own reverse proxy
// (net/http/httputil, what Traefik builds on) spreading requests round
// robin over upstreams fixed at start, and nothing else: no retries, no
// health checks, no logging, no placeholders. It is set up as Traefik
// v3.7.9 sets up its proxy (pkg/proxy/httputil, pkg/server/service's
// createRoundTripper, cmd/configuration.go's defaults): a pool of 32 KiB
// copy buffers, a 100 ms flush interval, 64 KiB transport read and write
// buffers, 200 idle connections per replica kept 90 s, TCP keep-alive
// 30 s. It shows how far any gateway built on Go's HTTP stack can go past
// Caddy on this machine.
//
//	bareproxy [-listen :8081] [-strip /multiply] host:port...
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
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
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Path = strings.TrimPrefix(r.Out.URL.Path, prefix)
			r.Out.URL.RawPath = ""
			r.SetURL(targets[(next.Add(1)-1)%uint64(len(targets))])
			r.SetXForwarded()
		},
		FlushInterval: 100 * time.Millisecond,
		BufferPool:    newBufferPool(),
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConnsPerHost:   200,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ReadBufferSize:        64 << 10,
			WriteBufferSize:       64 << 10,
		},
	}, nil
}

// bufferPool lends the proxy its response copy buffers (32 KiB, as
// Traefik's), instead of one allocated per request.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return make([]byte, 32<<10) }}}
}

func (b *bufferPool) Get() []byte  { return b.pool.Get().([]byte) }
func (b *bufferPool) Put(p []byte) { b.pool.Put(p) }
