// Package loadgen sends a constant rate of mixed GET and POST requests to
// multiply through a gateway, with vegeta as the engine, and records every
// response: when it was sent, how long it took, its status, and which
// replica answered. It is bounded in time and count, and stops by itself.
package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Config says where to send what.
type Config struct {
	// BaseURL is the gateway, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Prefix is multiply's path prefix on the target: /multiply through a
	// gateway, empty for a replica itself.
	Prefix string
	// Host, when set, is sent as the Host header (a gateway's host route).
	Host string
	// Rate is the constant request rate, per second. Default: 200
	Rate int
	// Duration bounds the run; it also ends when the context is done.
	// Default: 10s
	Duration time.Duration
	// Timeout bounds each request. It is longer than the gateway's own
	// retry window (lb_try_duration), so that what is measured is the
	// gateway's answer, not the client giving up. Default: 30s
	Timeout time.Duration
}

// Reply is multiply's answer, {"Data":{"Operation":…,"Result":…,"ServiceID":…}},
// where ServiceID names the replica that answered.
type Reply struct {
	Data struct {
		Operation string
		Result    int64
		ServiceID string
	}
}

// Record is one request and its outcome.
type Record struct {
	Method    string
	Sent      time.Time
	Latency   time.Duration
	Code      int
	Err       string
	ServiceID string
}

// Done is when the response was received (or the request failed).
func (r Record) Done() time.Time { return r.Sent.Add(r.Latency) }

// Failed reports a transport error, a non-2xx status or a wrong answer.
func (r Record) Failed() bool { return r.Err != "" || r.Code < 200 || r.Code > 299 }

// The two requests, sent alternately, and the answers they must get.
var checks = []struct {
	method, path, body string
	result             int64
}{
	{http.MethodGet, "/api/v1/add?x=10&y=25", "", 35},
	{http.MethodPost, "/api/v1/multiply", "x=6&y=7", 42},
}

func (c *Config) defaults() {
	if c.Rate <= 0 {
		c.Rate = 200
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
}

// Run attacks until Duration passes or ctx is done, and returns every
// record in the order the responses arrived.
func Run(ctx context.Context, cfg Config) []Record {
	cfg.defaults()
	base := strings.TrimRight(cfg.BaseURL, "/") + cfg.Prefix
	targets := make([]vegeta.Target, len(checks))
	for i, c := range checks {
		targets[i] = vegeta.Target{Method: c.method, URL: base + c.path, Header: http.Header{}}
		if c.body != "" {
			targets[i].Body = []byte(c.body)
			targets[i].Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cfg.Host != "" {
			targets[i].Header.Set("Host", cfg.Host)
		}
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(cfg.Timeout), vegeta.KeepAlive(true))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	rate := vegeta.Rate{Freq: cfg.Rate, Per: time.Second}
	records := make([]Record, 0, int(cfg.Duration.Seconds()+1)*cfg.Rate)
	for res := range atk.Attack(vegeta.NewStaticTargeter(targets...), rate, cfg.Duration, "multiply") {
		records = append(records, toRecord(res))
	}
	return records
}

// toRecord checks one result: the answer must be multiply's, and right.
func toRecord(res *vegeta.Result) Record {
	r := Record{Method: res.Method, Sent: res.Timestamp, Latency: res.Latency, Code: int(res.Code), Err: res.Error}
	if r.Failed() {
		return r
	}
	var body Reply
	if err := json.Unmarshal(res.Body, &body); err != nil {
		r.Err = fmt.Sprintf("decoding answer %.80q: %v", res.Body, err)
		return r
	}
	want := checks[0].result
	if body.Data.Operation == "multiply" {
		want = checks[1].result
	}
	if body.Data.Result != want || body.Data.ServiceID == "" {
		r.Err = fmt.Sprintf("wrong answer %.120q", res.Body)
		return r
	}
	r.ServiceID = body.Data.ServiceID
	return r
}
