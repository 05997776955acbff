package labels

import (
	"strings"
	"testing"
	"time"
)

func TestParseScaling(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		want    Scaling
		wantOn  bool
		wantErr string
	}{
		{name: "no scaling labels: never scaled", labels: map[string]string{"faas.enable": "true", "faas.port": "8080"}},
		{name: "another prefix's labels: never scaled", labels: map[string]string{"other.scale.max": "3"}},
		{name: "max alone: min 1, default target", labels: map[string]string{"faas.scale.max": "5"},
			wantOn: true, want: Scaling{Min: 1, Max: 5, Target: DefaultScaleTarget}},
		{name: "idle: min defaults to 0", labels: map[string]string{"faas.scale.max": "5", "faas.scale.idle": "10m"},
			wantOn: true, want: Scaling{Min: 0, Max: 5, Idle: 10 * time.Minute, Target: DefaultScaleTarget}},
		{name: "every label, with spaces", labels: map[string]string{"faas.scale.max": " 10 ", "faas.scale.min": "2", "faas.scale.idle": "30s", "faas.scale.target": "4"},
			wantOn: true, want: Scaling{Min: 2, Max: 10, Idle: 30 * time.Second, Target: 4}},
		{name: "min equals max", labels: map[string]string{"faas.scale.max": "3", "faas.scale.min": "3"},
			wantOn: true, want: Scaling{Min: 3, Max: 3, Target: DefaultScaleTarget}},
		{name: "max at the limit", labels: map[string]string{"faas.scale.max": "1048576"},
			wantOn: true, want: Scaling{Min: 1, Max: MaxReplicas, Target: DefaultScaleTarget}},

		{name: "no max", labels: map[string]string{"faas.scale.min": "1"}, wantErr: "label faas.scale.max is required"},
		{name: "max 0", labels: map[string]string{"faas.scale.max": "0"}, wantErr: `label faas.scale.max="0": want a whole number from 1`},
		{name: "max not a number", labels: map[string]string{"faas.scale.max": "many"}, wantErr: `label faas.scale.max="many"`},
		{name: "max negative", labels: map[string]string{"faas.scale.max": "-1"}, wantErr: `label faas.scale.max="-1"`},
		{name: "max above the limit", labels: map[string]string{"faas.scale.max": "1048577"}, wantErr: "label faas.scale.max"},
		{name: "min 0 without idle", labels: map[string]string{"faas.scale.max": "3", "faas.scale.min": "0"}, wantErr: "label faas.scale.min=\"0\": 0 replicas needs an idle time (faas.scale.idle)"},
		{name: "min above max", labels: map[string]string{"faas.scale.max": "3", "faas.scale.min": "4"}, wantErr: "label faas.scale.min=4 is above faas.scale.max=3"},
		{name: "min not a number", labels: map[string]string{"faas.scale.max": "3", "faas.scale.min": "1.5"}, wantErr: "label faas.scale.min"},
		{name: "idle not a duration", labels: map[string]string{"faas.scale.max": "3", "faas.scale.idle": "10"}, wantErr: `label faas.scale.idle="10": want a positive duration`},
		{name: "idle negative", labels: map[string]string{"faas.scale.max": "3", "faas.scale.idle": "-1m"}, wantErr: "label faas.scale.idle"},
		{name: "idle zero", labels: map[string]string{"faas.scale.max": "3", "faas.scale.idle": "0s"}, wantErr: "label faas.scale.idle"},
		{name: "target 0", labels: map[string]string{"faas.scale.max": "3", "faas.scale.target": "0"}, wantErr: "label faas.scale.target"},
		{name: "unknown field", labels: map[string]string{"faas.scale.max": "3", "faas.scale.maximum": "4"}, wantErr: `label faas.scale.maximum: unknown scaling field "maximum"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, on, err := ParseScaling(tt.labels, "faas")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !on {
					t.Error("a malformed scaling label says the service sets none")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if on != tt.wantOn || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, on, tt.want, tt.wantOn)
			}
		})
	}
}

func TestScalingAllows(t *testing.T) {
	sleeps := Scaling{Min: 0, Max: 4, Idle: time.Minute}
	sleepsAbove2 := Scaling{Min: 2, Max: 4, Idle: time.Minute}
	awake := Scaling{Min: 1, Max: 4}
	tests := []struct {
		s       Scaling
		n       uint64
		wantErr string
	}{
		{sleeps, 0, ""},
		{sleeps, 1, ""},
		{sleeps, 4, ""},
		{sleeps, 5, "5 replicas: the service's labels allow 1 to 4"},
		{sleepsAbove2, 0, ""},
		{sleepsAbove2, 1, "1 replicas: the service's labels allow 2 to 4"},
		{sleepsAbove2, 2, ""},
		{awake, 0, "never sleeps"},
		{awake, 1, ""},
		{awake, 4, ""},
		{awake, 1 << 40, "allow 1 to 4"},
	}
	for _, tt := range tests {
		err := tt.s.Allows(tt.n)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%+v.Allows(%d) = %v, want nil", tt.s, tt.n, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v.Allows(%d) = %v, want %q", tt.s, tt.n, err, tt.wantErr)
		}
	}
}
