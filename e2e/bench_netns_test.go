package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-gateway/faas-gateway/internal/loadgen"
)

// The bench drives each contender from inside its own network namespace
// (nsenter -t <its pid> -n, which needs root), on its own loopback: no
// docker-proxy and no published port in the path of the load, and the
// same path for every contender.

// inNetns returns the command that runs name with args in the network
// namespace of process pid.
func inNetns(ctx context.Context, pid int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "--", name}, args...)...)
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`([0-9]+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

// wrkResult is what the bench reads from wrk's output.
type wrkResult struct {
	rps              float64
	requests, non2xx int // non2xx: responses neither 2xx nor 3xx
}

// runWrk runs wrk (2 threads, conns keep-alive connections, for d) against
// url in the network namespace of process pid.
func runWrk(wrk string, pid int, url string, conns int, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := inNetns(ctx, pid, wrk, "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "5s", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk in the network namespace of %d: %w\n%s", pid, err, out)
	}
	return parseWrk(out)
}

// parseWrk reads wrk's request count, rate and non-2xx count.
func parseWrk(out []byte) (wrkResult, error) {
	m, n := wrkRPS.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		return wrkResult{}, fmt.Errorf("no Requests/sec or request count in wrk output:\n%s", out)
	}
	var res wrkResult
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	res.requests, _ = strconv.Atoi(string(n[1]))
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		res.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if res.requests == 0 {
		return res, fmt.Errorf("wrk: no request completed:\n%s", out)
	}
	return res, nil
}

// buildBinary compiles the main package pkg (relative to e2e/) into the
// test's temporary directory and returns the binary's path.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// runLoadgen runs the loadgen binary (cmd/loadgen, built by the bench) at
// a fixed rate against base in the network namespace of process pid, and
// returns its summary.
func runLoadgen(bin string, pid int, base, prefix string, rate int, d time.Duration) (loadgen.Summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	cmd := inNetns(ctx, pid, bin, "-json", "-url", base, "-prefix", prefix, "-rate", strconv.Itoa(rate), "-duration", d.String())
	out, err := cmd.Output()
	var s loadgen.Summary
	// loadgen exits 1 when a request failed, after printing its summary:
	// the failures are in it.
	if jerr := json.Unmarshal(out, &s); jerr != nil {
		return s, fmt.Errorf("loadgen in the network namespace of %d: %w (%v)\n%s", pid, jerr, err, out)
	}
	return s, nil
}

// cgroupCPU reads the CPU time of one cgroup, every process in it (a
// container's), from cgroup v1's cpuacct.usage (nanoseconds) or cgroup
// v2's cpu.stat (usage_usec).
type cgroupCPU struct {
	file string // cpuacct.usage or cpu.stat
	v2   bool
}

// containerCPU finds the cgroup of process pid (a container's main
// process) from /proc/<pid>/cgroup and where that hierarchy is mounted
// (/proc/self/mountinfo), rather than assuming a layout.
func containerCPU(pid int) (cgroupCPU, error) {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return cgroupCPU{}, err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return cgroupCPU{}, err
	}
	c, err := cgroupCPUFile(string(cg), string(mi))
	if err != nil {
		return c, fmt.Errorf("the cgroup of process %d: %w", pid, err)
	}
	_, err = c.read()
	return c, err
}

// cgroupCPUFile derives the CPU accounting file from a process's
// /proc/<pid>/cgroup and the reader's mountinfo: the cpuacct controller's
// line and mount under cgroup v1, the unified line ("0::") and the cgroup2
// mount under v2. A mount whose root is not the hierarchy's (a cgroup
// namespace) has that root cut from the process's path.
func cgroupCPUFile(procCgroup, mountinfo string) (cgroupCPU, error) {
	var v1Path, v2Path string
	hasV2 := false
	for line := range strings.Lines(procCgroup) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2Path, hasV2 = f[2], true
		}
		for _, ctl := range strings.Split(f[1], ",") {
			if ctl == "cpuacct" {
				v1Path = f[2]
			}
		}
	}
	for line := range strings.Lines(mountinfo) {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		if !ok {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(sf) < 3 {
			continue
		}
		root, mnt := pf[3], pf[4]
		switch {
		case v1Path != "" && sf[0] == "cgroup" && hasOption(sf[2], "cpuacct"):
			return cgroupCPU{file: filepath.Join(mnt, under(v1Path, root), "cpuacct.usage")}, nil
		case v1Path == "" && hasV2 && sf[0] == "cgroup2":
			return cgroupCPU{file: filepath.Join(mnt, under(v2Path, root), "cpu.stat"), v2: true}, nil
		}
	}
	return cgroupCPU{}, errors.New("no cpuacct (cgroup v1) or unified (cgroup v2) hierarchy mounted for it")
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// under is path relative to a mount whose root is root.
func under(path, root string) string {
	if root == "/" {
		return path
	}
	return strings.TrimPrefix(path, root)
}

// read returns the cgroup's CPU time so far.
func (c cgroupCPU) read() (time.Duration, error) {
	b, err := os.ReadFile(c.file)
	if err != nil {
		return 0, err
	}
	if !c.v2 {
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.file, err)
		}
		return time.Duration(ns), nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "usage_usec "); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", c.file, err)
			}
			return time.Duration(us) * time.Microsecond, nil
		}
	}
	return 0, fmt.Errorf("%s: no usage_usec", c.file)
}
