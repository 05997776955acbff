package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOperations(t *testing.T) {
	mux := newMux("replica-1", notDraining, 0)
	maxI, minI := strconv.FormatInt(math.MaxInt64, 10), strconv.FormatInt(math.MinInt64, 10)
	tests := []struct {
		name       string
		target     string
		wantCode   int
		wantResult int64
		wantParam  string // for errors: the parameter the body must name
		wantMsg    string
	}{
		{name: "add", target: "/api/v1/add?x=10&y=25", wantCode: 200, wantResult: 35},
		{name: "add negatives", target: "/api/v1/add?x=-10&y=-25", wantCode: 200, wantResult: -35},
		{name: "multiply", target: "/api/v1/multiply?x=6&y=7", wantCode: 200, wantResult: 42},
		{name: "multiply by zero", target: "/api/v1/multiply?x=0&y=" + minI, wantCode: 200, wantResult: 0},
		{name: "add at the edge", target: "/api/v1/add?x=" + maxI + "&y=0", wantCode: 200, wantResult: math.MaxInt64},
		{name: "add min plus max", target: "/api/v1/add?x=" + minI + "&y=" + maxI, wantCode: 200, wantResult: -1},
		{name: "multiply at the edge", target: "/api/v1/multiply?x=" + minI + "&y=1", wantCode: 200, wantResult: math.MinInt64},
		{name: "plus sign", target: "/api/v1/add?x=%2B5&y=1", wantCode: 200, wantResult: 6},
		{name: "missing x", target: "/api/v1/add?y=1", wantCode: 400, wantParam: "x", wantMsg: "missing"},
		{name: "empty y", target: "/api/v1/add?x=1&y=", wantCode: 400, wantParam: "y", wantMsg: "missing"},
		{name: "x not a number", target: "/api/v1/add?x=ten&y=1", wantCode: 400, wantParam: "x", wantMsg: "not an integer"},
		{name: "y a float", target: "/api/v1/multiply?x=1&y=1.5", wantCode: 400, wantParam: "y", wantMsg: "not an integer"},
		{name: "x repeated", target: "/api/v1/add?x=1&x=2&y=1", wantCode: 400, wantParam: "x", wantMsg: "2 times"},
		{name: "x out of range", target: "/api/v1/add?x=9223372036854775808&y=1", wantCode: 400, wantParam: "x", wantMsg: "out of range"},
		{name: "add overflows", target: "/api/v1/add?x=" + maxI + "&y=1", wantCode: 400, wantMsg: "overflows"},
		{name: "add underflows", target: "/api/v1/add?x=" + minI + "&y=-1", wantCode: 400, wantMsg: "overflows"},
		{name: "multiply overflows", target: "/api/v1/multiply?x=4294967296&y=4294967296", wantCode: 400, wantMsg: "overflows"},
		{name: "multiply min by -1", target: "/api/v1/multiply?x=" + minI + "&y=-1", wantCode: 400, wantMsg: "overflows"},
		{name: "multiply -1 by min", target: "/api/v1/multiply?x=-1&y=" + minI, wantCode: 400, wantMsg: "overflows"},
		{name: "unknown endpoint", target: "/api/v1/divide?x=1&y=1", wantCode: 404, wantMsg: "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.wantCode != 200 {
				var e apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
				}
				if e.Error.Parameter != tt.wantParam || !strings.Contains(e.Error.Message, tt.wantMsg) {
					t.Errorf("error = %+v, want parameter %q and a message containing %q", e.Error, tt.wantParam, tt.wantMsg)
				}
				return
			}
			var r result
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Data.Result != tt.wantResult || r.Data.ServiceID != "replica-1" {
				t.Errorf("Data = %+v, want Result %d from replica-1", r.Data, tt.wantResult)
			}
		})
	}
}

// TestResponseShape pins the JSON field names that load-spread scripts read.
func TestResponseShape(t *testing.T) {
	rec := httptest.NewRecorder()
	newMux("abc", notDraining, 0).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/add?x=10&y=25", nil))
	want := `{"Data":{"Operation":"add","X":10,"Y":25,"Result":35,"ServiceID":"abc"}}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body = %s, want %s", rec.Body, want)
	}
}

func TestPostForm(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/multiply", strings.NewReader("x=3&y=4"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	newMux("r", notDraining, 0).ServeHTTP(rec, req)
	var r result
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Data.Result != 12 {
		t.Errorf("POST form: %d %s", rec.Code, rec.Body)
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	newMux("r", notDraining, 0).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("healthz = %d %q", rec.Code, rec.Body)
	}
}

// TestMethods: a known path answers a method it does not serve with 405 and
// an Allow header, in the service's JSON error format; an unknown path stays
// 404 whatever the method.
func TestMethods(t *testing.T) {
	mux := newMux("r", notDraining, 0)
	const opsAllow, healthAllow = "GET, HEAD, POST", "GET, HEAD"
	tests := []struct {
		method, target string
		wantCode       int
		wantAllow      string // for 405
	}{
		{http.MethodPut, "/api/v1/add?x=1&y=2", 405, opsAllow},
		{http.MethodDelete, "/api/v1/add", 405, opsAllow},
		{http.MethodOptions, "/api/v1/add", 405, opsAllow},
		{http.MethodPatch, "/api/v1/multiply", 405, opsAllow},
		{http.MethodPut, "/api/v1/multiply", 405, opsAllow},
		{"PROPFIND", "/api/v1/multiply", 405, opsAllow},
		{http.MethodPost, "/healthz", 405, healthAllow},
		{http.MethodPut, "/healthz", 405, healthAllow},
		{http.MethodDelete, "/healthz", 405, healthAllow},
		{http.MethodOptions, "/healthz", 405, healthAllow},
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodHead, "/api/v1/add?x=1&y=2", 200, ""},
		{http.MethodPut, "/api/v1/divide", 404, ""},
		{http.MethodDelete, "/", 404, ""},
		{http.MethodOptions, "/api/v1/add/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if allow := rec.Header().Get("Allow"); allow != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", allow, tt.wantAllow)
			}
			if tt.wantCode == 200 {
				return
			}
			wantMsg := "no such endpoint"
			if tt.wantCode == 405 {
				wantMsg = "not allowed"
			}
			checkError(t, rec, wantMsg)
		})
	}
}

// TestBodyTooLarge: a POST form body over the limit answers 413, whether its
// length is announced or not; one at the limit is read.
func TestBodyTooLarge(t *testing.T) {
	const limit = maxBodyBytes
	form := func(n int) string { // a valid form body of exactly n bytes
		const head = "x=3&y=4&pad="
		return head + strings.Repeat("a", n-len(head))
	}
	tests := []struct {
		name     string
		body     io.Reader
		wantCode int
	}{
		{"at the limit", strings.NewReader(form(limit)), 200},
		{"one byte over", strings.NewReader(form(limit + 1)), 413},
		{"far over", strings.NewReader(form(16 * limit)), 413},
		{"over, length unknown", io.MultiReader(strings.NewReader(form(limit + 1))), 413},
	}
	mux := newMux("r", notDraining, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/add", tt.body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == 413 {
				checkError(t, rec, "larger than")
			}
		})
	}
}

// checkError checks that rec holds the service's JSON error body, with a
// message containing msg.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, msg string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e apiError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	if !strings.Contains(e.Error.Message, msg) {
		t.Errorf("error message %q does not contain %q", e.Error.Message, msg)
	}
}

// FuzzOperations checks that no query makes a handler panic or return a
// wrong number: every 200 carries the exact result, checked in big integers.
func FuzzOperations(f *testing.F) {
	for _, s := range []string{"x=1&y=2", "x=9223372036854775807&y=1", "x=-9223372036854775808&y=-1", "x=&y=", "x=1e3&y=2", "x=%ZZ", "y=1&x=1&x=2"} {
		f.Add("add", s)
		f.Add("multiply", s)
	}
	mux := newMux("fuzz", notDraining, 0)
	f.Fuzz(func(t *testing.T, op, query string) {
		if op != "add" && op != "multiply" {
			op = "add"
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/"+op, nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case 400:
			return
		case 200:
		default:
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		var r result
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if want, ok := exact(op, r.Data.X, r.Data.Y); !ok || want != r.Data.Result {
			t.Fatalf("%s(%d, %d) = %d, want %d (fits: %v)", op, r.Data.X, r.Data.Y, r.Data.Result, want, ok)
		}
	})
}

// notDraining is a server that is not stopping.
func notDraining() bool { return false }

// TestResponseDelay checks that an operation's answer is held for the
// delay, /healthz's is not, and a client that leaves ends the wait.
func TestResponseDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	mux := newMux("r", notDraining, delay)
	for _, tt := range []struct {
		path    string
		atLeast bool
	}{{"/api/v1/add?x=1&y=2", true}, {"/healthz", false}} {
		rec := httptest.NewRecorder()
		start := time.Now()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if took := time.Since(start); rec.Code != http.StatusOK || (took >= delay) != tt.atLeast {
			t.Errorf("GET %s = %d after %v, want 200, held %v: %v", tt.path, rec.Code, took, delay, tt.atLeast)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	start := time.Now()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/add?x=1&y=2", nil).WithContext(ctx))
	if took := time.Since(start); took >= delay || rec.Body.Len() != 0 {
		t.Errorf("a request whose client left was held %v and answered %q, want neither", took, rec.Body.String())
	}
}
