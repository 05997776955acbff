package labels

// This file reads and checks the host names that services claim in their
// host labels.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/faas-gateway/faas-gateway/caddymodule/routing"
)

// parseHosts reads a host label: one or more host names, comma-separated,
// each either a name (`api.example.com`) or a wildcard one label deep
// (`*.example.com`). Names are returned lower-case, without a trailing dot,
// sorted and without repeats.
func parseHosts(v string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(v, ",") {
		n, err := parseHost(h)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, n)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts), nil
}

// parseHost checks one host name of a host label and returns it in the
// form requests are matched in. It accepts DNS names of letters, digits and
// hyphens, with a leading `*.` for a wildcard, and refuses what could make
// a route claim more, or other, than a name: a scheme, a port, a path,
// spaces, underscores, a `*` anywhere else, IP addresses.
func parseHost(raw string) (string, error) {
	h := strings.TrimSpace(raw)
	if h == "" {
		return "", errors.New("empty host name")
	}
	if strings.Contains(h, "://") {
		return "", fmt.Errorf("host %q: a host name, not a URL (no scheme)", h)
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if len(h) > routing.MaxHostLen {
		return "", fmt.Errorf("host %q: longer than %d characters", raw, routing.MaxHostLen)
	}
	name, _ := strings.CutPrefix(h, "*.")
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := routing.CheckHostLabel(l); err != nil {
			return "", fmt.Errorf("host %q: %w", h, err)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("host %q: an IP address or a numeric top-level label; claim a name", h)
	}
	return h, nil
}
