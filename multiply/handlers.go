package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// result is the success body. The field names are an API: load-spread
// scripts read Data.ServiceID and Data.Result.
type result struct {
	Data struct {
		Operation string
		X, Y      int64
		Result    int64
		ServiceID string
	}
}

// apiError is the error body.
type apiError struct {
	Error struct {
		Message   string
		Parameter string `json:",omitempty"`
	}
}

// operation computes x op y, or reports that the result overflows int64.
type operation func(x, y int64) (int64, bool)

// maxBodyBytes bounds a POST form body; a longer one answers 413.
const maxBodyBytes = 1 << 16

// newMux serves the operations as serviceID, each answer held for delay,
// and /healthz: 200, or 503 while draining reports true.
func newMux(serviceID string, draining func() bool, delay time.Duration) *http.ServeMux {
	mux := http.NewServeMux()
	for name, op := range map[string]operation{"add": add, "multiply": multiply} {
		route(mux, "/api/v1/"+name, delayed(delay, handleOperation(name, op, serviceID)), http.MethodGet, http.MethodHead, http.MethodPost)
	}
	route(mux, "/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if draining() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "draining")
			return
		}
		fmt.Fprintln(w, "ok")
	}, http.MethodGet, http.MethodHead)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no such endpoint: %s %s (try GET /api/v1/add?x=1&y=2)", r.Method, r.URL.Path))
	})
	return mux
}

// delayed holds each request for d before h answers it (a workload slower
// than arithmetic, for load tests), or until its client leaves.
func delayed(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	if d <= 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			h(w, r)
		case <-r.Context().Done():
		}
	}
}

// route serves path with h for each of methods, and answers any other method
// on path with 405 and an Allow header. Without the method-less pattern the
// catch-all "/" would take those requests and answer 404; "METHOD path" is
// more specific than "path", so the allowed methods still reach h.
func route(mux *http.ServeMux, path string, h http.HandlerFunc, methods ...string) {
	for _, m := range methods {
		mux.HandleFunc(m+" "+path, h)
	}
	allow := strings.Join(methods, ", ")
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, r.URL.Path, allow))
	})
}

// handleOperation serves one operation. Operands come from the query
// string, or for POST from a form body (application/x-www-form-urlencoded).
func handleOperation(name string, op operation, serviceID string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
			if err := r.ParseForm(); err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("form body larger than %d bytes", tooLarge.Limit))
					return
				}
				writeError(w, http.StatusBadRequest, "", "reading form body: "+err.Error())
				return
			}
			params = r.Form
		}
		x, err := intParam(params, "x")
		if err != nil {
			writeError(w, http.StatusBadRequest, "x", err.Error())
			return
		}
		y, err := intParam(params, "y")
		if err != nil {
			writeError(w, http.StatusBadRequest, "y", err.Error())
			return
		}
		res, ok := op(x, y)
		if !ok {
			writeError(w, http.StatusBadRequest, "", fmt.Sprintf("%s(%d, %d) overflows a 64-bit integer", name, x, y))
			return
		}
		var body result
		body.Data.Operation = name
		body.Data.X, body.Data.Y, body.Data.Result = x, y, res
		body.Data.ServiceID = serviceID
		writeJSON(w, http.StatusOK, body)
	}
}

// intParam reads one int64 parameter, with an error that names it.
func intParam(q url.Values, name string) (int64, error) {
	vals, ok := q[name]
	if !ok || len(vals) == 0 || vals[0] == "" {
		return 0, fmt.Errorf("missing parameter %q: want an integer", name)
	}
	if len(vals) > 1 {
		return 0, fmt.Errorf("parameter %q given %d times: want it once", name, len(vals))
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("parameter %q=%q is out of range for a 64-bit integer", name, vals[0])
		}
		return 0, fmt.Errorf("parameter %q=%q is not an integer", name, vals[0])
	}
	return n, nil
}

func add(x, y int64) (int64, bool) {
	s := x + y
	// Overflow iff both operands have the same sign and the sum's differs.
	return s, (x >= 0) != (y >= 0) || (s >= 0) == (x >= 0)
}

func multiply(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	if (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
		return 0, false
	}
	p := x * y
	return p, p/y == x
}

func writeError(w http.ResponseWriter, code int, param, msg string) {
	var body apiError
	body.Error.Message = msg
	body.Error.Parameter = param
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}
