package peers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

func TestDecodeReport(t *testing.T) {
	big := `{"gateway":"g","services":{` + strings.Repeat(`"docker/s":{"in_flight":1,"requests":1},`, maxBody/30) + `"docker/t":{}}}`
	tests := []struct {
		name    string
		body    string
		want    scaling.Report
		wantErr string
	}{
		{"valid", `{"gateway":"g1","services":{"docker/abc":{"in_flight":2.5,"requests":10}}}`,
			scaling.Report{Gateway: "g1", Services: map[string]scaling.ServiceLoad{"docker/abc": {InFlight: 2.5, Requests: 10}}}, ""},
		{"valid, no services", `{"gateway":"g1"}` + "\n", scaling.Report{Gateway: "g1"}, ""},
		{"unknown field", `{"gateway":"g1","Replicas":9}`, scaling.Report{}, "unknown field"},
		{"unknown field in a load", `{"gateway":"g1","services":{"docker/a":{"Desired":9}}}`, scaling.Report{}, "unknown field"},
		{"trailing data", `{"gateway":"g1"}{"gateway":"g2"}`, scaling.Report{}, "data after"},
		{"not JSON", `Gateway: g1`, scaling.Report{}, "decoding"},
		{"empty", ``, scaling.Report{}, "decoding"},
		{"wrong type", `{"gateway":"g1","services":{"docker/a":{"in_flight":"9"}}}`, scaling.Report{}, "decoding"},
		{"negative requests", `{"gateway":"g1","services":{"docker/a":{"requests":-1}}}`, scaling.Report{}, "decoding"},
		{"NaN", `{"gateway":"g1","services":{"docker/a":{"in_flight":NaN}}}`, scaling.Report{}, "decoding"},
		{"infinite", `{"gateway":"g1","services":{"docker/a":{"in_flight":1e999}}}`, scaling.Report{}, "decoding"},
		{"negative in flight", `{"gateway":"g1","services":{"docker/a":{"in_flight":-0.5}}}`, scaling.Report{}, "in flight"},
		{"huge in flight", `{"gateway":"g1","services":{"docker/a":{"in_flight":1e300}}}`, scaling.Report{}, "in flight"},
		{"huge requests", `{"gateway":"g1","services":{"docker/a":{"requests":18446744073709551615}}}`, scaling.Report{}, "requests"},
		{"no gateway name", `{"services":{}}`, scaling.Report{}, "gateway name"},
		{"long gateway name", `{"gateway":"` + strings.Repeat("g", maxName+1) + `"}`, scaling.Report{}, "gateway name"},
		{"key without a slash", `{"gateway":"g1","services":{"abc":{}}}`, scaling.Report{}, "service key"},
		{"key of the one engine", `{"gateway":"g1","services":{"/abc":{"in_flight":1}}}`,
			scaling.Report{Gateway: "g1", Services: map[string]scaling.ServiceLoad{scaling.Key("", "abc"): {InFlight: 1}}}, ""},
		{"key with an empty ID", `{"gateway":"g1","services":{"docker/":{}}}`, scaling.Report{}, "service key"},
		{"over the size limit", big, scaling.Report{}, "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeReport(strings.NewReader(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Gateway != tt.want.Gateway || len(got.Services) != len(tt.want.Services) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want.Services {
				if got.Services[k] != v {
					t.Errorf("%s: got %+v, want %+v", k, got.Services[k], v)
				}
			}
		})
	}
}

func TestCheckReportTooManyServices(t *testing.T) {
	rep := scaling.Report{Gateway: "g", Services: map[string]scaling.ServiceLoad{}}
	for i := range maxServices + 1 {
		rep.Services[fmt.Sprintf("docker/s%d", i)] = scaling.ServiceLoad{}
	}
	if err := checkReport(rep); err == nil || !strings.Contains(err.Error(), "services") {
		t.Fatalf("error %v, want too many services", err)
	}
}

// TestDecodeReportRoundTrip decodes what a gateway serves, the autoscaler's
// Report encoded as the server encodes it, with keys of one engine ("")
// and of named engines.
func TestDecodeReportRoundTrip(t *testing.T) {
	want := scaling.Report{Gateway: "3f2c9e1a", Services: map[string]scaling.ServiceLoad{
		scaling.Key("", "svc1"):     {InFlight: 12.5, Requests: 1 << 40},
		scaling.Key("east", "svc2"): {Requests: 7},
	}}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeReport(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}
