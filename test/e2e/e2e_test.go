// Package e2e runs the demo end to end with real clients: the manager as a
// separate process, the real kubectl, a real Prometheus scraping the
// telemetry simulator, the simulator's support desk export, the warehouse
// in a real PostgreSQL, and a webhook sink.
package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"customersuccess.dev/success-operator/internal/demo"
	"customersuccess.dev/success-operator/internal/testenv"
)

// namespace is the demo's namespace, the one the README's commands use.
const namespace = "customers"

// env is what every step of the scenario uses.
type env struct {
	t          *testing.T
	root       string
	kubectl    string
	kubeconfig string
	client     kubernetes.Interface
	sim        *demo.Simulator
	sink       *demo.Sink
	// metrics is the manager's metrics address (HTTPS), metricsToken a
	// bearer token allowed to read it (see metrics_test.go).
	metrics      string
	metricsToken string
	managerLog   *bytes.Buffer
}

func TestDemoEndToEnd(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	e := &env{t: t, root: root, kubectl: filepath.Join(testenv.BinDir(root), "kubectl"), kubeconfig: filepath.Join(tmp, "kubeconfig")}

	manager := filepath.Join(tmp, "manager")
	build := exec.Command("go", "build", "-o", manager, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}

	cp, cfg, err := testenv.StartLocal(root, e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	if e.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}

	tele, err := demo.LoadTelemetry(filepath.Join(root, "config", "demo", "telemetry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.sim = demo.NewSimulator(tele, time.Now)
	simAddr := serve(t, e.sim.Handler())
	prom, err := testenv.StartPrometheus(root, []string{simAddr}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	warehouse, err := demo.StartWarehouse(t.Context(), e.sim, func(err error) { t.Errorf("syncing the warehouse: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = warehouse.Stop() })
	e.sink = demo.NewSink([]byte("demo-signing-key"), nil)
	sinkAddr := serve(t, e.sink)

	// The manager runs as its own process, as in a cluster, with the
	// default --metrics-secure: HTTPS, each scrape authenticated and
	// authorized by the API server (the manager's admin kubeconfig may
	// create the TokenReviews and SubjectAccessReviews).
	e.metrics = freeAddr(t)
	cmd := exec.Command(manager, "--metrics-bind-address="+e.metrics, "--health-probe-bind-address="+freeAddr(t),
		"--leader-elect=false", "--zap-log-level=info")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	e.managerLog = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = e.managerLog, e.managerLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("manager log (tail):\n%s", tail(e.managerLog.String(), 6000))
		}
	})

	manifests, err := demo.Render(filepath.Join(root, "config", "demo"),
		demo.Values{PrometheusURL: prom.URL, WebhookURL: "http://" + sinkAddr + "/hooks",
			SupportDeskURL: "http://" + simAddr + demo.SupportDeskPath,
			WarehouseDSN:   warehouse.DSN, WarehousePassword: warehouse.Password, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	e.run(manifests, "apply", "-f", "-")
	e.run(nil, "wait", "--for=condition=Ready", "successplans", "--all", "-n", namespace, "--timeout=60s")
	e.run(nil, "wait", "--for=condition=Ready", "customeraccounts", "--all", "-n", namespace, "--timeout=60s")

	e.metricsAccess()
	scenario(e)
	e.readmeCommands()
}

// run runs kubectl and returns its output; a failure fails the test.
func (e *env) run(stdin []byte, args ...string) string {
	e.t.Helper()
	out, err := e.try(stdin, args...)
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) try(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// jsonpath reads a field of an object with kubectl get -o jsonpath.
func (e *env) jsonpath(kind, name, path string) string {
	out, err := e.try(nil, "get", kind, name, "-n", namespace, "-o", "jsonpath="+path)
	if err != nil {
		return "error: " + strings.TrimSpace(out)
	}
	return out
}

// eventually polls check until it returns "" (success), or fails the
// test shortly before its deadline: how long the operator takes depends on
// how busy the machine is, never a bound of the test's own.
func (e *env) eventually(what string, check func() string) {
	e.t.Helper()
	deadline := testenv.Deadline(e.t)
	for {
		msg := check()
		if msg == "" {
			return
		}
		select {
		case <-deadline.Done():
			e.t.Fatalf("%s: not reached before the test's deadline: %s", what, msg)
		case <-time.After(time.Second):
		}
	}
}

func serve(t *testing.T, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return l.Addr().String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
