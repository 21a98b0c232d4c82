package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The scrapers of the metrics access check: prometheus is bound to the
// metrics-reader ClusterRole of config/rbac, stranger to nothing.
const (
	scraperNamespace = "monitoring"
	readerAccount    = "prometheus"
	strangerAccount  = "stranger"
)

// metricsClient scrapes the manager's metrics endpoint on loopback. The
// manager serves a self-signed certificate (controller-runtime's default),
// so this client skips server verification for that scrape only: what is
// under test is that the server authenticates and authorizes its clients.
var metricsClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	},
}

// metricsAccess checks that the metrics endpoint serves HTTPS only, and
// only to a caller whose token the API server authenticates and whose
// subject may get /metrics: no token gets 401, a forged one no metrics, a
// valid token without the metrics-reader role 403, and a token of a
// ServiceAccount bound to it 200 with the operator's series. It keeps that
// token for the scenario's scrapes.
func (e *env) metricsAccess() {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.client.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scraperNamespace}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, name := range []string{readerAccount, strangerAccount} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: scraperNamespace}}
		if _, err := e.client.CoreV1().ServiceAccounts(scraperNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
		// A bound token from the TokenRequest API, as a projected volume
		// gives Prometheus in a cluster.
		tr, err := e.client.CoreV1().ServiceAccounts(scraperNamespace).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}},
			metav1.CreateOptions{})
		if err != nil {
			e.t.Fatalf("requesting a token for %s: %v", name, err)
		}
		tokens[name] = tr.Status.Token
	}

	// The real ClusterRole file (without config/default's namePrefix), bound
	// the way the Prometheus README says.
	e.run(nil, "apply", "-f", filepath.Join(e.root, "config", "rbac", "metrics_reader_role.yaml"))
	e.run(nil, "create", "clusterrolebinding", "e2e-metrics-reader", "--clusterrole=metrics-reader",
		"--serviceaccount="+scraperNamespace+":"+readerAccount)
	// Wait for the binding to reach the API server's authorizer before the
	// first scrape: the manager caches a denial for 30 seconds.
	reader := "--as=system:serviceaccount:" + scraperNamespace + ":" + readerAccount
	e.eventually("the metrics-reader binding in effect", func() string {
		if out, _ := e.try(nil, "auth", "can-i", "get", "/metrics", reader); strings.TrimSpace(out) != "yes" {
			return "kubectl auth can-i get /metrics: " + strings.TrimSpace(out)
		}
		return ""
	})

	// Each case lists the answers it accepts; 0 stands for no HTTP answer.
	cases := []struct {
		what, scheme, token string
		want                []int
	}{
		{"no token is unauthenticated", "https", "", []int{http.StatusUnauthorized}},
		{"a token the API server did not issue is unauthenticated", "https", "not-a-token",
			[]int{http.StatusUnauthorized}},
		{"a valid token without the metrics-reader role is forbidden", "https", tokens[strangerAccount],
			[]int{http.StatusForbidden}},
		{"a token bound to metrics-reader reads the metrics", "https", tokens[readerAccount], []int{http.StatusOK}},
		// The server is up (the case before): the TLS listener resets a
		// plain HTTP connection, or answers 400.
		{"plain HTTP gets nothing, even with a good token", "http", tokens[readerAccount],
			[]int{0, http.StatusBadRequest}},
	}
	for _, c := range cases {
		e.eventually(c.what, func() string {
			code, body, err := e.get(c.scheme, c.token)
			if err != nil && !slices.Contains(c.want, 0) {
				return err.Error()
			}
			if !slices.Contains(c.want, code) {
				return fmt.Sprintf("status %d, want one of %v: %s", code, c.want, tail(body, 200))
			}
			if code == http.StatusOK && !strings.Contains(body, "successoperator_plan_accounts{") {
				return "no successoperator_plan_accounts series in the response"
			}
			return ""
		})
	}
	e.metricsToken = tokens[readerAccount]
}

// scrape reads the manager's metrics with the metrics-reader token.
func (e *env) scrape() (string, error) {
	code, body, err := e.get("https", e.metricsToken)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d: %s", code, tail(body, 200))
	}
	return body, err
}

// get requests /metrics with token as the bearer token, if any.
func (e *env) get(scheme, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+e.metrics+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
