package peers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

func TestDecodeReport(t *testing.T) {
	big := `{"Gateway":"g","Services":{` + strings.Repeat(`"docker/s":{"InFlight":1,"Requests":1},`, maxBody/30) + `"docker/t":{}}}`
	tests := []struct {
		name    string
		body    string
		want    scaling.Report
		wantErr string
	}{
		{"valid", `{"Gateway":"g1","Services":{"docker/abc":{"InFlight":2.5,"Requests":10}}}`,
			scaling.Report{Gateway: "g1", Services: map[string]scaling.ServiceLoad{"docker/abc": {InFlight: 2.5, Requests: 10}}}, ""},
		{"valid, no services", `{"Gateway":"g1"}` + "\n", scaling.Report{Gateway: "g1"}, ""},
		{"unknown field", `{"Gateway":"g1","Replicas":9}`, scaling.Report{}, "unknown field"},
		{"unknown field in a load", `{"Gateway":"g1","Services":{"docker/a":{"Desired":9}}}`, scaling.Report{}, "unknown field"},
		{"trailing data", `{"Gateway":"g1"}{"Gateway":"g2"}`, scaling.Report{}, "data after"},
		{"not JSON", `Gateway: g1`, scaling.Report{}, "decoding"},
		{"empty", ``, scaling.Report{}, "decoding"},
		{"wrong type", `{"Gateway":"g1","Services":{"docker/a":{"InFlight":"9"}}}`, scaling.Report{}, "decoding"},
		{"negative requests", `{"Gateway":"g1","Services":{"docker/a":{"Requests":-1}}}`, scaling.Report{}, "decoding"},
		{"NaN", `{"Gateway":"g1","Services":{"docker/a":{"InFlight":NaN}}}`, scaling.Report{}, "decoding"},
		{"infinite", `{"Gateway":"g1","Services":{"docker/a":{"InFlight":1e999}}}`, scaling.Report{}, "decoding"},
		{"negative in flight", `{"Gateway":"g1","Services":{"docker/a":{"InFlight":-0.5}}}`, scaling.Report{}, "in flight"},
		{"huge in flight", `{"Gateway":"g1","Services":{"docker/a":{"InFlight":1e300}}}`, scaling.Report{}, "in flight"},
		{"huge requests", `{"Gateway":"g1","Services":{"docker/a":{"Requests":18446744073709551615}}}`, scaling.Report{}, "requests"},
		{"no gateway name", `{"Services":{}}`, scaling.Report{}, "gateway name"},
		{"long gateway name", `{"Gateway":"` + strings.Repeat("g", maxName+1) + `"}`, scaling.Report{}, "gateway name"},
		{"key without engine", `{"Gateway":"g1","Services":{"abc":{}}}`, scaling.Report{}, "service key"},
		{"key with an empty ID", `{"Gateway":"g1","Services":{"docker/":{}}}`, scaling.Report{}, "service key"},
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
