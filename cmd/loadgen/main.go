// Command loadgen sends a constant rate of mixed GET and POST requests to
// multiply through the gateway (loopback by default), then prints what it
// saw: failures by reason, latency, and how the requests spread over the
// replicas (by Data.ServiceID).
//
//	go run ./cmd/loadgen -rate 200 -duration 10s
//
// With -json it prints the summary as JSON only, as the bench reads it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

func main() {
	var cfg loadgen.Config
	flag.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8081", "gateway base URL")
	flag.StringVar(&cfg.Prefix, "prefix", "/multiply", "multiply's path prefix (empty for a replica itself)")
	flag.StringVar(&cfg.Host, "host", "", "Host header to send (a host route), default the URL's")
	flag.IntVar(&cfg.Rate, "rate", 200, "requests per second")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (at most 10m)")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout (longer than the gateway's retry window)")
	asJSON := flag.Bool("json", false, "print the summary as JSON (durations in nanoseconds), for programs such as the bench")
	flag.Parse()
	if cfg.Duration > 10*time.Minute || cfg.Rate > 20000 {
		fmt.Fprintln(os.Stderr, "loadgen: -duration is limited to 10m and -rate to 20000/s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if !*asJSON {
		fmt.Printf("loadgen: %d req/s for %v to %s%s (GET add, POST multiply)\n", cfg.Rate, cfg.Duration, cfg.BaseURL, cfg.Prefix)
	}
	s := loadgen.Summarize(loadgen.Run(ctx, cfg))
	if *asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	} else {
		s.Print(os.Stdout)
	}
	if s.Failed > 0 {
		os.Exit(1)
	}
}
