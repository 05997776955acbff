package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// The bench's contenders as swarm services: how each is started, with
// which Caddyfile, and where its process is.

// startStatic runs stock Caddy as service <stack>_<name>: Caddy from image
// (the gateway's, built with stock Caddy's settings) with Go's GC
// defaults, and multiply's current task addresses written into its
// Caddyfile. The baseline and its A/A twin are two of these.
func startStatic(t *testing.T, cli taskLister, image, name string, port int) string {
	t.Helper()
	addrs := taskAddrs(t, cli)
	tmpl := template.Must(template.ParseFiles("testdata/static.Caddyfile.tmpl"))
	var cf bytes.Buffer
	if err := tmpl.Execute(&cf, map[string]string{"Upstreams": strings.Join(addrs, " ")}); err != nil {
		t.Fatal(err)
	}
	return startService(t, name, image, port, append(caddyfileOpts(t, name, caddyfileSet{"Caddyfile": cf.Bytes()}), "--env", "GOGC=100"), caddyfileArgs...)
}

// benchConfigDir is where caddyfileOpts mounts a contender's Caddyfile
// and the files it imports: a folder of their own, so that the Caddyfile's
// relative imports find these and not the image's /etc/caddy/gateway.caddy.
const benchConfigDir = "/etc/caddy/bench"

// caddyfileArgs run Caddy with the Caddyfile caddyfileOpts mounts.
var caddyfileArgs = []string{"run", "--config", benchConfigDir + "/Caddyfile", "--adapter", "caddyfile"}

// caddyfileSet is a Caddyfile ("Caddyfile") and the files beside it that it
// imports, by name.
type caddyfileSet map[string][]byte

// caddyfileOpts stores each file of a set as a swarm config, removed when
// the test ends, and returns the service create options that mount them in
// benchConfigDir, where caddyfileArgs read the Caddyfile.
func caddyfileOpts(t *testing.T, name string, files caddyfileSet) []string {
	t.Helper()
	if files["Caddyfile"] == nil {
		t.Fatalf("contender %s: no Caddyfile in its files", name)
	}
	var opts []string
	for file, content := range files {
		cfgName := fmt.Sprintf("%s_%s_%s_%d", stackName, name, file, time.Now().UnixNano())
		create := exec.Command("docker", "config", "create", cfgName, "-")
		create.Stdin = bytes.NewReader(content)
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("docker config create: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			for range 30 { // the config is in use until the service's task is gone
				if _, err := docker(t, time.Minute, "config", "rm", cfgName); err == nil {
					return
				}
				time.Sleep(time.Second)
			}
		})
		opts = append(opts, "--config", "source="+cfgName+",target="+benchConfigDir+"/"+file)
	}
	return opts
}

// startGateway runs a gateway from image with the image's Caddyfile, as
// the stack's gateway runs, with env added to the image's environment, and
// returns the service's name.
func startGateway(t *testing.T, name, image string, port int, env ...string) string {
	t.Helper()
	return startService(t, name, image, port, gatewayOpts(env))
}

// startGatewayWith runs a gateway as startGateway does, with files (a
// Caddyfile and what it imports) instead of the image's.
func startGatewayWith(t *testing.T, name, image string, port int, files caddyfileSet, env ...string) string {
	t.Helper()
	return startService(t, name, image, port, append(gatewayOpts(env), caddyfileOpts(t, name, files)...), caddyfileArgs...)
}

// lazyLog is the default Caddyfile's log block (in gateway.caddy's global
// options): the lazy log encoder.
const lazyLog = "\tlog {\n\t\tformat lazy\n\t}\n"

// gatewayCaddyfiles are the files of the default Caddyfile: the root
// Caddyfile and gateway.caddy, which it imports, from the repository's
// root.
var gatewayCaddyfiles = []string{"Caddyfile", "gateway.caddy"}

// shippedCaddyfileSet returns the default Caddyfile's files, as the image
// has them in /etc/caddy.
func shippedCaddyfileSet(t *testing.T) caddyfileSet {
	t.Helper()
	files := caddyfileSet{}
	for _, f := range gatewayCaddyfiles {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// caddyfileVariant returns the default Caddyfile's files with the one
// occurrence of old in them replaced by new: the same gateway with one
// setting changed.
func caddyfileVariant(t *testing.T, old, new string) caddyfileSet {
	t.Helper()
	files := shippedCaddyfileSet(t)
	var in []string
	for f, b := range files {
		for range strings.Count(string(b), old) {
			in = append(in, f)
		}
	}
	if len(in) != 1 {
		t.Fatalf("the default Caddyfile's files %v have %q %d times (in %v), want 1", gatewayCaddyfiles, old, len(in), in)
	}
	files[in[0]] = []byte(strings.Replace(string(files[in[0]]), old, new, 1))
	return files
}

// gatewayOpts are the service create options a gateway needs (the Docker
// socket, a manager node), with env added to the image's environment.
func gatewayOpts(env []string) []string {
	opts := []string{"--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly",
		"--constraint", "node.role==manager"}
	for _, e := range env {
		opts = append(opts, "--env", e)
	}
	return opts
}

// startService creates service <stack>_<name> from image on the stack's
// network, published on port in host mode, with the extra service create
// options and the image's command replaced by args if any, and removes it
// when the test ends.
func startService(t *testing.T, name, image string, port int, opts []string, args ...string) string {
	t.Helper()
	name = stackName + "_" + name
	t.Cleanup(func() { _, _ = docker(t, time.Minute, "service", "rm", name) })
	create := append([]string{"service", "create", "--detach", "--name", name, "--network", stackName + "_net",
		"--publish", fmt.Sprintf("mode=host,published=%d,target=8081", port)}, opts...)
	mustDocker(t, append(append(create, image), args...)...)
	return name
}

// imageEnv returns the image's environment variables among keys, as
// KEY=value.
func imageEnv(t *testing.T, image string, keys ...string) []string {
	t.Helper()
	var env []string
	for kv := range strings.Lines(mustDocker(t, "image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", image)) {
		kv = strings.TrimSpace(kv)
		if k, _, _ := strings.Cut(kv, "="); slices.Contains(keys, k) {
			env = append(env, kv)
		}
	}
	return env
}

// The parts of the Docker client the bench uses.
type (
	// networkLister finds the stack's network.
	networkLister interface {
		NetworkList(context.Context, network.ListOptions) ([]network.Summary, error)
	}
	// taskLister reads task addresses.
	taskLister interface {
		networkLister
		TaskList(context.Context, swarm.TaskListOptions) ([]swarm.Task, error)
	}
	// serviceCreator creates services on the stack network.
	serviceCreator interface {
		networkLister
		ServiceCreate(context.Context, swarm.ServiceSpec, swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	}
)

// stackNetworkID returns the ID of the test stack's network.
func stackNetworkID(t *testing.T, cli networkLister) string {
	t.Helper()
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", stackName+"_net"))})
	if err != nil || len(nets) != 1 {
		t.Fatalf("finding the stack network: %v (%d found)", err, len(nets))
	}
	return nets[0].ID
}

// taskAddrs returns multiply's running task addresses on the stack network.
func taskAddrs(t *testing.T, cli taskLister) []string {
	netID := stackNetworkID(t, cli)
	tasks, err := cli.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", multiplySv), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, tk := range tasks {
		for _, a := range tk.NetworksAttachments {
			if a.Network.ID == netID && len(a.Addresses) > 0 {
				addrs = append(addrs, strings.Split(a.Addresses[0], "/")[0]+":8080")
			}
		}
	}
	if len(addrs) == 0 {
		t.Fatal("no multiply task addresses")
	}
	slices.Sort(addrs)
	return addrs
}

// createRoutes creates n services that opt in, with no replicas, each a
// route, and removes them when the test ends.
func createRoutes(t *testing.T, cli serviceCreator, n int) {
	t.Helper()
	netID := stackNetworkID(t, cli)
	zero := uint64(0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			spec := swarm.ServiceSpec{
				Annotations: swarm.Annotations{Name: fmt.Sprintf("%s_route%04d", stackName, i), Labels: map[string]string{
					"faas.enable": "true", "faas.port": "8080", "com.docker.stack.namespace": stackName + "routes",
				}},
				TaskTemplate: swarm.TaskSpec{
					ContainerSpec: &swarm.ContainerSpec{Image: multiplyImage},
					Networks:      []swarm.NetworkAttachmentConfig{{Target: netID}},
				},
				Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
			}
			if _, err := cli.ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		out, _ := docker(t, time.Minute, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stackName+"routes")
		if ids := strings.Fields(out); len(ids) > 0 {
			if _, err := docker(t, 5*time.Minute, append([]string{"service", "rm"}, ids...)...); err != nil {
				t.Errorf("removing route services: %v", err)
			}
		}
	})
	for err := range errs {
		t.Fatalf("creating route services: %v", err)
	}
}

// serviceContainer returns the container of a service's (single) task on
// this node.
func serviceContainer(t *testing.T, service string) string {
	t.Helper()
	id := strings.TrimSpace(mustDocker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service))
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("want one container of %s, got %q", service, id)
	}
	return id
}

// servicePID returns the main process of a service's (single) task on
// this node.
func servicePID(t *testing.T, service string) int {
	t.Helper()
	id := serviceContainer(t, service)
	pid, err := strconv.Atoi(strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.Pid}}", id)))
	if err != nil || pid == 0 {
		t.Fatalf("the process of %s: %d, %v", service, pid, err)
	}
	return pid
}

// checkShipped fails the test unless the stack's gateway, the bench's
// shipped contender, is what `make up` deploys: the image GATEWAY_IMAGE
// names (by image ID), running its default command on /etc/caddy/Caddyfile,
// and that file and gateway.caddy there the repository's.
func checkShipped(t *testing.T) {
	t.Helper()
	id := serviceContainer(t, gatewaySv)
	want := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format", "{{.Id}}", gatewayImage))
	if got := strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.Image}}", id)); got != want {
		t.Fatalf("the shipped contender runs image %s, but %s is %s", got, gatewayImage, want)
	}
	const args = `["run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]`
	if got := strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{json .Args}}", id)); got != args {
		t.Fatalf("the shipped contender runs caddy %s, want %s", got, args)
	}
	for name, content := range shippedCaddyfileSet(t) {
		out, err := exec.Command("docker", "cp", id+":/etc/caddy/"+name, "-").Output()
		if err != nil {
			t.Fatalf("docker cp %s:/etc/caddy/%s: %v", id, name, err)
		}
		tr := tar.NewReader(bytes.NewReader(out))
		if _, err := tr.Next(); err != nil {
			t.Fatalf("/etc/caddy/%s of the shipped contender: %v", name, err)
		}
		got, err := io.ReadAll(tr)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("/etc/caddy/%s of the shipped contender is not the repository's (%v): rebuild the image (make gateway-image)", name, err)
		}
	}
}

// rssMB returns the resident memory of the main process of a service's
// (single) task on this node.
func rssMB(t *testing.T, service string) float64 {
	t.Helper()
	pid := servicePID(t, service)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+([0-9]+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmRSS for %s (pid %d)", service, pid)
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
