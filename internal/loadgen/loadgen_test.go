package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun checks the generator against a fake multiply: the rate and the
// bound hold, both methods are sent, and wrong answers count as failures.
func TestRun(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq := n.Add(1)
		switch {
		case r.URL.Path == "/multiply/api/v1/add" && r.Method == http.MethodGet:
			fmt.Fprint(w, `{"Data":{"Operation":"add","Result":35,"ServiceID":"a"}}`)
		case r.URL.Path == "/multiply/api/v1/multiply" && r.Method == http.MethodPost && r.FormValue("x") == "6":
			if seq%10 == 0 {
				fmt.Fprint(w, `{"Data":{"Operation":"multiply","Result":41,"ServiceID":"b"}}`) // wrong
				return
			}
			fmt.Fprint(w, `{"Data":{"Operation":"multiply","Result":42,"ServiceID":"b"}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	recs := Run(context.Background(), Config{BaseURL: srv.URL, Prefix: "/multiply", Rate: 100, Duration: time.Second})
	s := Summarize(recs)
	if s.Sent < 95 || s.Sent > 105 {
		t.Errorf("sent %d requests in 1s at 100/s", s.Sent)
	}
	if s.PerReplica["a"] == 0 || s.PerReplica["b"] == 0 {
		t.Errorf("per replica %v: want both GET and POST answered", s.PerReplica)
	}
	if s.Failed == 0 || s.Failed > s.Sent/5 {
		t.Errorf("failed %d: want the wrong answers (about 1 in 20) counted", s.Failed)
	}

	// The context stops a run early.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	Run(ctx, Config{BaseURL: srv.URL, Prefix: "/multiply", Rate: 50, Duration: time.Minute})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled run took %v", d)
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]time.Duration{50: 5, 99: 10, 10: 1, 100: 10} {
		if got := Percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty percentile not 0")
	}
}
