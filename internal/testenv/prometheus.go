package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

const (
	// prometheusReadyTimeout bounds how long StartPrometheus waits for /-/ready.
	prometheusReadyTimeout = 30 * time.Second
	// prometheusStopGrace is how long Stop waits after SIGTERM before SIGKILL.
	prometheusStopGrace = 5 * time.Second
	// prometheusWaitTimeout bounds WaitForSeries when ctx has no deadline.
	prometheusWaitTimeout = 30 * time.Second
	// prometheusLogTail is how much of the server's log errors quote.
	prometheusLogTail = 8 << 10
)

// PrometheusBin is where `make prometheus` puts the server.
func PrometheusBin(root string) string { return filepath.Join(root, "bin", "prometheus") }

// Prometheus is a running Prometheus server for tests.
type Prometheus struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string

	dir    string
	cmd    *exec.Cmd
	log    *SyncBuffer
	done   chan struct{} // closed when the process has exited
	waited error         // cmd.Wait's result, set before done is closed
	api    promv1.API

	stopOnce sync.Once
	stopErr  error
}

// PrometheusOption configures a server started by StartPrometheus.
type PrometheusOption func(*prometheusOptions)

type prometheusOptions struct {
	ruleFiles []string
}

// WithRuleFiles loads Prometheus rule files (the plain format, a top-level
// groups: list) that the server evaluates every scrape interval. A file
// that does not load keeps the server from starting, with the reason in
// the error. See RuleFileFromPrometheusRule for PrometheusRule manifests.
func WithRuleFiles(paths ...string) PrometheusOption {
	return func(o *prometheusOptions) { o.ruleFiles = append(o.ruleFiles, paths...) }
}

// StartPrometheus starts bin/prometheus on a free loopback port with a
// temporary data dir and a config scraping targets (host:port strings, job
// "exporter") every scrapeInterval, with the TSDB's minimal settings for
// speed. Rules, if any (WithRuleFiles), are evaluated every scrapeInterval
// too. It returns once /-/ready answers 200, and fails after 30s. It fails,
// naming the make target, when the binary is missing.
func StartPrometheus(root string, targets []string, scrapeInterval time.Duration, opts ...PrometheusOption) (*Prometheus, error) {
	bin := PrometheusBin(root)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make prometheus` to build it", bin)
	}
	if scrapeInterval <= 0 {
		return nil, fmt.Errorf("scrape interval must be positive, got %s", scrapeInterval)
	}
	var o prometheusOptions
	for _, opt := range opts {
		opt(&o)
	}
	for i, f := range o.ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		o.ruleFiles[i] = abs // the server runs in its own directory
	}
	// The free port is picked by binding and releasing it, so another process
	// can take it before Prometheus does: try again on a fresh port then.
	var lastErr error
	for range 3 {
		p, err := startPrometheus(bin, targets, scrapeInterval, o)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func startPrometheus(bin string, targets []string, scrapeInterval time.Duration, o prometheusOptions) (*Prometheus, error) {
	dir, err := os.MkdirTemp("", "testenv-prometheus-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }

	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, prometheusConfig(targets, scrapeInterval, o.ruleFiles), 0o600); err != nil {
		cleanup()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	log := &SyncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		// The smallest TSDB: no lock file, the smallest WAL segment
		// Prometheus accepts (10MB, preallocated on creation), and no WAL
		// compression, which only costs CPU for data that is thrown away.
		"--storage.tsdb.no-lockfile",
		"--storage.tsdb.wal-segment-size=10MB",
		"--no-storage.tsdb.wal-compression",
		// Apply the static targets at once instead of after the 5s throttle.
		"--scrape.discovery-reload-interval=100ms",
		// Neither GOMAXPROCS nor GOMEMLIMIT tuning matters for a test server.
		"--no-auto-gomaxprocs",
		"--no-auto-gomemlimit",
	)
	// The UI (not built in: the query API is all tests need) looks for its
	// files relative to the working directory; keep that inside dir.
	cmd.Dir = dir
	cmd.Stdout = log
	cmd.Stderr = log
	// Die with the test process, so no server outlives a killed `go test`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}

	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cleanup()
		return nil, err
	}
	p := &Prometheus{
		URL:  "http://" + addr,
		dir:  dir,
		cmd:  cmd,
		log:  log,
		done: make(chan struct{}),
		api:  promv1.NewAPI(client),
	}
	go func() {
		p.waited = cmd.Wait()
		close(p.done)
	}()

	if err := p.waitReady(prometheusReadyTimeout); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or
// timeout passes.
func (p *Prometheus) waitReady(timeout time.Duration) error {
	httpClient := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := httpClient.Get(p.URL + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			out := p.log.String()
			if strings.Contains(out, "address already in use") {
				return fmt.Errorf("%w: %s", errPortTaken, p.URL)
			}
			return fmt.Errorf("prometheus exited before it was ready (%v)%s", p.waited, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus at %s was not ready after %s%s", p.URL, timeout, p.logTail())
		}
	}
}

// API returns a client of the server's HTTP API.
func (p *Prometheus) API() promv1.API { return p.api }

// Stop stops the server (SIGTERM, then SIGKILL after 5s) and removes its data
// dir. It fails when the server had exited by itself or had to be killed,
// quoting its log. Calling it again returns the first result.
func (p *Prometheus) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Prometheus) stop() error {
	defer func() { _ = os.RemoveAll(p.dir) }()
	select {
	case <-p.done:
		return fmt.Errorf("prometheus had already exited (%v)%s", p.waited, p.logTail())
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		<-p.done // the only failure is that the process is gone already
		return fmt.Errorf("prometheus had already exited (%v)%s", p.waited, p.logTail())
	}
	select {
	case <-p.done:
		if p.waited != nil {
			return fmt.Errorf("prometheus did not exit cleanly (%v)%s", p.waited, p.logTail())
		}
		return nil
	case <-time.After(prometheusStopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("prometheus did not stop within %s of SIGTERM and was killed%s", prometheusStopGrace, p.logTail())
	}
}

// WaitForSeries blocks until an instant query for expr returns at least n
// series, ctx is done, or 30s pass when ctx has no deadline.
func (p *Prometheus) WaitForSeries(ctx context.Context, expr string, n int) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, prometheusWaitTimeout)
		defer cancel()
	}
	var last string
	for {
		value, _, _, err := p.api.Query(ctx, expr, time.Now())
		switch {
		case err != nil:
			last = "error: " + err.Error()
		case value.Type() != model.ValVector:
			return fmt.Errorf("query %q returned a %s, not a vector", expr, value.Type())
		default:
			vector := value.(model.Vector)
			if len(vector) >= n {
				return nil
			}
			last = fmt.Sprintf("%d series: %s", len(vector), vector)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d series of %q: %w (last answer: %s)%s", n, expr, ctx.Err(), last, p.logTail())
		case <-p.done:
			return fmt.Errorf("waiting for %d series of %q: prometheus exited (%v)%s", n, expr, p.waited, p.logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logTail returns the end of the server's log, set off for an error message.
func (p *Prometheus) logTail() string {
	out := p.log.String()
	if len(out) > prometheusLogTail {
		out = "..." + out[len(out)-prometheusLogTail:]
	}
	if out == "" {
		return ""
	}
	return "\nprometheus log:\n" + out
}

// prometheusConfig scrapes targets as job "exporter" every interval and
// evaluates ruleFiles (absolute paths) as often.
func prometheusConfig(targets []string, interval time.Duration, ruleFiles []string) []byte {
	d := model.Duration(interval).String()
	var b bytes.Buffer
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", d, d, d)
	if len(ruleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&b, "  - %s\n", strconv.Quote(f))
		}
	}
	b.WriteString("scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: [")
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// RuleFileFromPrometheusRule writes the rule groups of a Prometheus
// Operator PrometheusRule manifest (its spec.groups) as a plain Prometheus
// rule file in dir, and returns the file's path, for WithRuleFiles.
func RuleFileFromPrometheusRule(manifest, dir string) (string, error) {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return "", err
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		return "", fmt.Errorf("%s: %w", manifest, err)
	}
	if rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		return "", fmt.Errorf("%s: not a PrometheusRule with spec.groups", manifest)
	}
	out, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, strings.TrimSuffix(filepath.Base(manifest), filepath.Ext(manifest))+".rules.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
