package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Inside the gateway's container: its admin endpoint (gateway.caddy's
// `admin localhost:2019`), the port of its site (the Caddyfile's :8081)
// and multiply's (faas.port).
const (
	adminAddr    = "http://localhost:2019"
	sitePort     = 8081
	upstreamPort = 8080
)

// soakSample is what the soak reads from the gateway once a cycle.
type soakSample struct {
	At         time.Duration // since the soak started
	Container  string        // the gateway's container, to see it was never replaced
	Heap       uint64        // live heap after two forced GCs (MemStats' HeapAlloc)
	Goroutines int
	FDs        int // open file descriptors of the gateway's process
	// Clients are the load's connections to the gateway, and Upstreams the
	// gateway's to the replicas (established, in the container's network
	// namespace): pools whose size follows the load's concurrency, each
	// one a descriptor, and a goroutine (a server connection) or two (a
	// transport's).
	Clients, Upstreams int
	// Cached are the upstreams in Caddy's cache of dynamic upstreams (the
	// admin API's /reverse_proxy/upstreams), each kept an hour after its
	// last request.
	Cached   int
	Series   int // sample lines in /metrics
	Routes   int // routes in /swarm/routes
	Replicas int // replicas across them
	// seriesIDs are the series (name and labels) of /metrics, to name
	// those that differ between two samples.
	seriesIDs map[string]bool
}

// gatewayProcess returns the running gateway container on this node and
// the host PID of its process.
func gatewayProcess(t *testing.T) (id string, pid int, err error) {
	t.Helper()
	out, err := docker(t, 20*time.Second, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+gatewaySv, "--filter", "status=running")
	if err != nil {
		return "", 0, err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", 0, fmt.Errorf("%d running containers of %s on this node, want 1", len(ids), gatewaySv)
	}
	out, err = docker(t, 20*time.Second, "inspect", "--format", "{{.State.Pid}}", ids[0])
	if err != nil {
		return "", 0, err
	}
	pid, err = strconv.Atoi(strings.TrimSpace(out))
	return ids[0], pid, err
}

// adminGet fetches path from the admin endpoint of the gateway whose
// process is pid. The endpoint listens on the container's localhost only
// and the image has no shell, so curl runs in the container's network
// namespace (nsenter, which needs root, as reading the process's
// descriptors does).
func adminGet(pid int, path string) ([]byte, error) {
	out, err := getInNetns(pid, adminAddr+path)
	if err != nil {
		return nil, fmt.Errorf("admin GET %s: %w", path, err)
	}
	return out, nil
}

// getInNetns fetches url from the network namespace of process pid, as
// that process would (curl under nsenter, which needs root).
func getInNetns(pid int, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := inNetns(ctx, pid, "curl", "-sS", "--fail", "--max-time", "20", url)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("GET %s (nsenter -t %d -n curl): %w", url, pid, err)
	}
	return out, nil
}

var (
	heapAllocLine = regexp.MustCompile(`(?m)^# HeapAlloc = (\d+)$`)
	goroutineLine = regexp.MustCompile(`^goroutine profile: total (\d+)`)
)

// sampleGateway reads the gateway's live heap after a forced GC, its
// goroutines, descriptors, metric series and route table. The descriptors
// are counted first, before the admin requests open any.
func sampleGateway(t *testing.T, at time.Duration) (soakSample, error) {
	t.Helper()
	s := soakSample{At: at}
	id, pid, err := gatewayProcess(t)
	if err != nil {
		return s, err
	}
	s.Container = id
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, fmt.Errorf("the gateway's descriptors: %w", err)
	}
	s.FDs = len(fds)
	if s.Clients, s.Upstreams, err = connections(pid); err != nil {
		return s, err
	}

	// Two forced GCs: the first moves what sync.Pools hold (the proxy's
	// 32 kB copy buffers among them, as many as the last minute's peak
	// concurrency needed) to their victim caches, the second frees it.
	var heap []byte
	for range 2 {
		if heap, err = adminGet(pid, "/debug/pprof/heap?gc=1&debug=1"); err != nil {
			return s, err
		}
	}
	m := heapAllocLine.FindSubmatch(heap)
	if m == nil {
		return s, fmt.Errorf("no HeapAlloc in the heap profile (%d bytes)", len(heap))
	}
	s.Heap, _ = strconv.ParseUint(string(m[1]), 10, 64)

	// Caddy keeps every dynamic upstream it has proxied to for an hour
	// after its last request (reverseproxy's dynamicHosts): a cache the
	// churn's new task addresses fill during the first hour.
	body, err := adminGet(pid, "/reverse_proxy/upstreams")
	if err != nil {
		return s, err
	}
	var upstreams []json.RawMessage
	if err := json.Unmarshal(body, &upstreams); err != nil {
		return s, fmt.Errorf("decoding /reverse_proxy/upstreams: %w", err)
	}
	s.Cached = len(upstreams)

	gor, err := adminGet(pid, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	if m = goroutineLine.FindSubmatch(gor); m == nil {
		return s, fmt.Errorf("no goroutine total in %.60q", gor)
	}
	s.Goroutines, _ = strconv.Atoi(string(m[1]))

	body, err = adminGet(pid, "/swarm/routes")
	if err != nil {
		return s, err
	}
	var table struct {
		Routes []struct {
			Replicas []json.RawMessage `json:"replicas"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &table); err != nil {
		return s, fmt.Errorf("decoding /swarm/routes: %w", err)
	}
	s.Routes = len(table.Routes)
	for _, r := range table.Routes {
		s.Replicas += len(r.Replicas)
	}

	s.seriesIDs, err = metricSeries()
	s.Series = len(s.seriesIDs)
	return s, err
}

// NetFDs are the descriptors other than the pooled HTTP connections.
func (s soakSample) NetFDs() int { return s.FDs - s.Clients - s.Upstreams }

// NetGoroutines are the goroutines other than the pooled HTTP
// connections': one per idle server connection, a read and a write loop
// per transport connection.
func (s soakSample) NetGoroutines() int { return s.Goroutines - s.Clients - 2*s.Upstreams }

// connections counts the established TCP connections of the network
// namespace of process pid to sitePort (the load's) and to upstreamPort
// (to the replicas), from /proc/<pid>/net/tcp and tcp6.
func connections(pid int) (clients, upstreams int, err error) {
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			return 0, 0, fmt.Errorf("the gateway's connections: %w", err)
		}
		c, u := countEstablished(string(b), sitePort, upstreamPort)
		clients, upstreams = clients+c, upstreams+u
	}
	return clients, upstreams, nil
}

// countEstablished counts the lines of a /proc/net/tcp table in state
// ESTABLISHED (01) whose local port is local, and whose remote port is
// remote.
func countEstablished(table string, local, remote int) (locals, remotes int) {
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "01" {
			continue
		}
		port := func(addr string) int {
			_, hex, _ := strings.Cut(addr, ":")
			n, _ := strconv.ParseInt(hex, 16, 32)
			return int(n)
		}
		switch {
		case port(f[1]) == local:
			locals++
		case port(f[2]) == remote:
			remotes++
		}
	}
	return locals, remotes
}

// metricSeries returns the series of the gateway's /metrics (the
// observability site, testdata/observe.yml): each sample line's name and
// labels.
func metricSeries() (map[string]bool, error) {
	return readMetrics(sampleLines)
}

// sampleLines reads the Prometheus text format and returns its sample
// lines without their values (and timestamps).
func sampleLines(r io.Reader) (map[string]bool, error) {
	ids := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The value (and timestamp) follow the labels, or the name.
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			ids[line[:i+1]] = true
		} else if i := strings.IndexByte(line, ' '); i > 0 {
			ids[line[:i]] = true
		} else {
			return nil, fmt.Errorf("not a sample line: %q", line)
		}
	}
	return ids, sc.Err()
}

// seriesDiff names the series in a and not in b.
func seriesDiff(a, b map[string]bool) []string {
	var only []string
	for id := range a {
		if !b[id] {
			only = append(only, id)
		}
	}
	return only
}

func TestCountEstablished(t *testing.T) {
	// /proc/net/tcp6 lines: a client on :8081 (1F91), one to a replica's
	// :8080 (1F90), one closing, a listener, and one to docker-api.
	const table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0000000000000000FFFF00000200000A:1F91 0000000000000000FFFF00000100000A:C73A 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0000000000000000FFFF00000200000A:9EFC 0000000000000000FFFF00000700000A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0000000000000000FFFF00000200000A:9EFD 0000000000000000FFFF00000800000A:1F90 08 00000000:00000000 00:00000000 00000000     0        0 4 1
   4: 0000000000000000FFFF00000200000A:D32A 0000000000000000FFFF00000900000A:0948 01 00000000:00000000 00:00000000 00000000     0        0 5 1
`
	if c, u := countEstablished(table, sitePort, upstreamPort); c != 1 || u != 1 {
		t.Errorf("countEstablished = %d clients, %d upstreams, want 1 and 1", c, u)
	}
}
