package peers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/faas-gateway/faas-gateway/caddymodule/scaling"
)

// Bounds on a report: anything beyond them is forged or broken, and the
// whole report is refused.
const (
	maxBody     = 1 << 20 // bytes
	maxServices = 10000
	maxName     = 256 // bytes, for the gateway and each service key
	maxInFlight = 1e6
	maxRequests = 1 << 53 // exact in a float64
)

// decodeReport reads one report from r, strictly, and checks its values.
func decodeReport(r io.Reader) (scaling.Report, error) {
	var rep scaling.Report
	dec := json.NewDecoder(io.LimitReader(r, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return scaling.Report{}, fmt.Errorf("decoding the report: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return scaling.Report{}, errors.New("decoding the report: data after the report (or over the size limit)")
	}
	if err := checkReport(rep); err != nil {
		return scaling.Report{}, fmt.Errorf("checking the report: %w", err)
	}
	return rep, nil
}

// checkReport refuses a report with an absurd value.
func checkReport(rep scaling.Report) error {
	if rep.Gateway == "" || len(rep.Gateway) > maxName {
		return fmt.Errorf("gateway name of %d bytes", len(rep.Gateway))
	}
	if len(rep.Services) > maxServices {
		return fmt.Errorf("%d services, more than %d", len(rep.Services), maxServices)
	}
	for key, load := range rep.Services {
		// The engine is "" in a gateway that reads one (scaling.Key).
		_, id, ok := strings.Cut(key, "/")
		if !ok || id == "" || len(key) > maxName {
			return fmt.Errorf("service key %.64q is not <engine>/<service ID>", key)
		}
		if math.IsNaN(load.InFlight) || load.InFlight < 0 || load.InFlight > maxInFlight {
			return fmt.Errorf("service %q: %v in flight", key, load.InFlight)
		}
		if load.Requests > maxRequests {
			return fmt.Errorf("service %q: %d requests", key, load.Requests)
		}
	}
	return nil
}
