package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"customersuccess.dev/success-operator/internal/testenv"
)

// runManager, set in the environment of this test binary, makes it run
// main with its arguments instead of the tests: the manager as a process
// of its own, started by a test.
const runManager = "SUCCESS_OPERATOR_TEST_RUN_MANAGER"

var (
	// cfg is the local control plane's cluster-admin config.
	cfg *rest.Config
	// kubeconfig is the path of a kubeconfig with the same user.
	kubeconfig string
)

func TestMain(m *testing.M) {
	if os.Getenv(runManager) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

// runTests starts the local control plane, runs the tests and stops it.
func runTests(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "main-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	env, c, err := testenv.StartLocal(root, kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	cfg = c
	return m.Run()
}

// TestMetricsAuthAnswers: the metrics filter the manager serves with
// --metrics-secure, built as main builds it and checked against the real
// API server's TokenReview and SubjectAccessReview, answers 401 to a
// request without a token and to a token that does not authenticate,
// without an error log; 403 to a token that authenticates without the
// right to get /metrics; and passes one with that right to the metrics.
func TestMetricsAuthAnswers(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())

	ns := "metrics-" + rand.String(6)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	token := func(name string) string {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}},
			metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return tr.Status.Token
	}
	reader, stranger := token("reader"), token("stranger")
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	// The filter caches a denial for 30 seconds: wait until the binding is
	// in effect before the reader's first request.
	g.Eventually(func(g Gomega) {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:                  "system:serviceaccount:" + ns + ":reader",
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())

	opts, err := metricsOptions("127.0.0.1:0", true, "", "tls.crt", "tls.key")
	g.Expect(err).NotTo(HaveOccurred())
	hc, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	filter, err := opts.FilterProvider(cfg, hc)
	g.Expect(err).NotTo(HaveOccurred())
	logged := &recordingSink{}
	h, err := filter(logr.New(logged), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "the metrics\n")
	}))
	g.Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, tc := range []struct {
		name, token string
		status      int
		body        string
	}{
		{"a request without a token is unauthenticated", "", http.StatusUnauthorized, "Unauthorized\n"},
		{"a token the API server did not issue is unauthenticated", "not-a-token", http.StatusUnauthorized, "Unauthorized\n"},
		{"a token the API server did not issue is unauthenticated, also the second time", "not-a-token", http.StatusUnauthorized, "Unauthorized\n"},
		{"a valid token without the right to get /metrics is forbidden", stranger, http.StatusForbidden,
			"Authorization denied for user system:serviceaccount:" + ns + ":stranger\n"},
		{"a valid token with the right to get /metrics reads the metrics", reader, http.StatusOK, "the metrics\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			logged.reset()
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := srv.Client().Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resp.StatusCode).To(Equal(tc.status), "body %q", body)
			g.Expect(string(body)).To(Equal(tc.body))
			g.Expect(logged.errors()).To(BeEmpty(), "error logs")
		})
	}
}

// recordingSink is a logr.LogSink that keeps the messages of its errors.
type recordingSink struct {
	mu   sync.Mutex
	errs []string
}

func (s *recordingSink) Init(logr.RuntimeInfo)                 {}
func (s *recordingSink) Enabled(int) bool                      { return true }
func (s *recordingSink) Info(int, string, ...any)              {}
func (s *recordingSink) WithValues(...any) logr.LogSink        { return s }
func (s *recordingSink) WithName(string) logr.LogSink          { return s }
func (s *recordingSink) Error(err error, msg string, _ ...any) { s.add(msg + ": " + err.Error()) }

func (s *recordingSink) add(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, msg)
}

func (s *recordingSink) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *recordingSink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = nil
}

// TestLeaderElectionOutsideACluster: the manager, run outside a cluster
// with --leader-elect and --leader-election-namespace, starts and holds
// its lease in that namespace.
func TestLeaderElectionOutsideACluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	ns := "leader-" + rand.String(6)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	const lease = "success-operator-test"
	out := &testenv.SyncBuffer{}
	cmd := exec.Command(os.Args[0], "--kubeconfig="+kubeconfig,
		"--leader-elect", "--leader-election-namespace="+ns, "--leader-election-id="+lease,
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	cmd.Env = append(os.Environ(), runManager+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	g.Expect(cmd.Start()).To(Succeed())
	var waited error
	exited := make(chan struct{})
	go func() { waited = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	deadline := testenv.Deadline(t)
	for {
		l, err := cs.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
		if err == nil && ptr.Deref(l.Spec.HolderIdentity, "") != "" {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the manager exited (%v) before it held the lease:\n%s", waited, out.String())
		case <-deadline.Done():
			t.Fatalf("no lease %s/%s held before the test's deadline:\n%s", ns, lease, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
