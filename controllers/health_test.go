package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// The exporter is the telemetry the tests' Prometheus scrapes.
var (
	exporterOnce sync.Once
	activeUsers  = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "active_users_7d", Help: "Active users over 7 days."}, []string{"account"})
	promServer   *testenv.Prometheus
	promErr      error
)

// startPrometheus starts, once per package, an exporter and a real
// Prometheus scraping it every second. TestMain stops it.
func startPrometheus(t *testing.T) *testenv.Prometheus {
	t.Helper()
	exporterOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(activeUsers)
		exp := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		root, err := testenv.RepoRoot()
		if err != nil {
			promErr = err
			return
		}
		promServer, promErr = testenv.StartPrometheus(root, []string{strings.TrimPrefix(exp.URL, "http://")}, time.Second)
	})
	if promErr != nil {
		t.Fatal(promErr)
	}
	return promServer
}

// queryCounter is a proxy in front of Prometheus that counts instant
// queries.
type queryCounter struct {
	URL     string
	queries atomic.Int64
}

func newQueryCounter(t *testing.T, target string) *queryCounter {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	qc := &queryCounter{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/query" {
			qc.queries.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	qc.URL = srv.URL
	return qc
}

// queryValues returns the values of an instant query, now.
func queryValues(prom *testenv.Prometheus, query string) ([]float64, error) {
	v, _, _, err := prom.API().Query(context.Background(), query, time.Now())
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("%s: not a vector: %s", query, v.Type())
	}
	out := []float64{}
	for _, s := range vec {
		out = append(out, float64(s.Value))
	}
	return out, nil
}

func telemetryPlan(ns, promURL string) *csv1alpha1.SuccessPlan {
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Interval = metav1.Duration{Duration: 5 * time.Minute}
	p.Spec.Sources = []csv1alpha1.Source{
		{Name: "telemetry", Prometheus: &csv1alpha1.PrometheusSource{URL: promURL, AccountLabel: "account"}},
		{Name: "csm", Static: &csv1alpha1.StaticSource{}},
	}
	p.Spec.Measures = []csv1alpha1.Measure{
		{Name: "activeSeats", Source: "telemetry", Query: "max by (account) (active_users_7d)",
			Normalize: "value / double(account.contract.seats)", Thresholds: csv1alpha1.Thresholds{Bad: 0.2, Good: 0.7}, Weight: 40},
		{Name: "logins", Source: "telemetry", Query: "sum by (account) (active_users_7d) * 2",
			Thresholds: csv1alpha1.Thresholds{Bad: 0, Good: 100}, Weight: 20},
		{Name: "sentiment", Source: "csm", Key: "sentiment", Thresholds: csv1alpha1.Thresholds{Bad: 1, Good: 5}, Weight: 15},
	}
	p.Spec.Stages = nil
	p.Spec.Signals = csv1alpha1.PlanSignals{
		AtRisk:    "health.score < 40 || (measures.logins.available && measures.logins.value < 30.0)",
		Expansion: "measures.activeSeats.available && measures.activeSeats.value >= 0.8 * double(account.contract.seats)",
	}
	return p
}

func TestPrometheusVectorQueryScoresEveryAccountWithOneQueryPerMeasure(t *testing.T) {
	g := NewWithT(t)
	prom := startPrometheus(t)
	op := startOperator(t)
	ns := op.ns
	// Label values are unique per test, so tests do not see each other's series.
	id := func(s string) string { return ns + "-" + s }
	activeUsers.WithLabelValues(id("acme")).Set(31)
	activeUsers.WithLabelValues(id("globex")).Set(10)
	activeUsers.WithLabelValues(id("initech")).Set(45)
	g.Expect(prom.WaitForSeries(context.Background(), fmt.Sprintf(`active_users_7d{account=~"%s-.*"}`, ns), 3)).To(Succeed())

	acme := newAccount(ns, "acme", "smb")
	acme.Spec.ExternalIDs = map[string]string{"telemetry": id("acme")}
	acme.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "4"}
	globex := newAccount(ns, "globex", "smb")
	globex.Spec.ExternalIDs = map[string]string{"telemetry": id("globex")}
	globex.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "2"}
	initech := newAccount(ns, "initech", "smb") // no sentiment: Redistribute
	initech.Spec.ExternalIDs = map[string]string{"telemetry": id("initech")}
	create(t, acme, globex, initech)

	qc := newQueryCounter(t, prom.URL)
	create(t, telemetryPlan(ns, qc.URL))

	// By hand: acme 31/50 = 0.62 -> 84, logins 62 -> 62, sentiment 4 -> 75:
	// (40*84 + 20*62 + 15*75) / 75 = 76.3 -> 76. globex 10/50 = 0.2 -> 0,
	// 20 -> 20, 2 -> 25: 775/75 = 10.3 -> 10. initech 0.9 -> 100, 90 -> 90,
	// no sentiment: (4000 + 1800) / 60 = 96.7 -> 97.
	want := map[string]struct {
		score int32
		band  csv1alpha1.Band
	}{"acme": {76, csv1alpha1.BandGreen}, "globex": {10, csv1alpha1.BandRed}, "initech": {97, csv1alpha1.BandGreen}}
	g.Eventually(func(g Gomega) {
		for name, w := range want {
			a := account(g, ns, name)
			g.Expect(a.Status.Health).NotTo(BeNil(), name)
			g.Expect(a.Status.Health.Score).To(Equal(w.score), name)
			g.Expect(a.Status.Health.Band).To(Equal(w.band), name)
		}
	}, timeout, poll).Should(Succeed())
	// Three accounts, two remote measures: two queries.
	g.Expect(qc.queries.Load()).To(Equal(int64(2)))

	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Health.PlanGeneration).To(Equal(plan(g, ns, "smb").Generation))
		seats := a.Status.Health.Measures[0]
		g.Expect(seats.Name).To(Equal("activeSeats"))
		g.Expect(seats.Value).To(Equal(csv1alpha1.Decimal("31")))
		g.Expect(seats.Score).To(Equal(int32(84)))
		g.Expect(seats.Weight).To(Equal(int32(40)))
		g.Expect(seats.Contribution).To(Equal(44.8))
		g.Expect(seats.Source).To(Equal("telemetry"))
		g.Expect(seats.ObservedAt).NotTo(BeNil())
		g.Expect(a.Status.Health.Measures[2].ObservedAt).To(BeNil(), "static measures have no observation time")
		g.Expect(condition(a.Status.Conditions, csv1alpha1.MetricsAvailableCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.AtRiskCondition).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(a.Status.History).To(HaveLen(1))

		gl := account(g, ns, "globex")
		g.Expect(condition(gl.Status.Conditions, csv1alpha1.AtRiskCondition)).To(SatisfyAll(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", csv1alpha1.AtRiskSignalReason)))
		g.Expect(condition(gl.Status.Conditions, csv1alpha1.HealthyCondition).Reason).To(Equal("Red"))
		in := account(g, ns, "initech")
		g.Expect(condition(in.Status.Conditions, csv1alpha1.ExpansionReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		mc := condition(in.Status.Conditions, csv1alpha1.MetricsAvailableCondition)
		g.Expect(mc.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(mc.Message).To(ContainSubstring("sentiment: no signal sentiment"))
	}, timeout, poll).Should(Succeed())

	// An idle interval: the collector queries again, nothing changed, no
	// account is written.
	op.settle(t, g, "acme", "globex", "initech")
	writes := op.accountWrites()
	op.stepCollection(g, 5*time.Minute, func() bool { return qc.queries.Load() >= 4 })
	op.awaitCollectors(g)
	op.settle(t, g, "acme", "globex", "initech")
	g.Expect(op.accountWrites()).To(Equal(writes))
	g.Expect(qc.queries.Load()).To(Equal(int64(4)))

	// Usage moves: only the changed account is re-scored; the band moves.
	activeUsers.WithLabelValues(id("globex")).Set(40)
	g.Eventually(func() ([]float64, error) {
		return queryValues(prom, fmt.Sprintf(`active_users_7d{account=%q}`, id("globex")))
	}, timeout, poll).Should(Equal([]float64{40}))
	// 40/50 = 0.8 -> 100, 80 -> 80, 25: (4000 + 1600 + 375) / 75 = 79.7 -> 80.
	op.stepCollection(g, 5*time.Minute, func() bool { return account(g, ns, "globex").Status.Health.Score == 80 })
	g.Eventually(func(g Gomega) {
		gl := account(g, ns, "globex")
		g.Expect(gl.Status.Health.Band).To(Equal(csv1alpha1.BandGreen))
		g.Expect(gl.Status.History).To(HaveLen(2))
		g.Expect(bandEvents(g, ns, "globex")).To(ContainElement(ContainSubstring("Red -> Green")))
	}, timeout, poll).Should(Succeed())
}

// bandEvents lists the notes of the account's BandChanged Events.
func bandEvents(g Gomega, ns, name string) []string {
	var out []string
	for _, e := range eventsOf(g, ns, name, csv1alpha1.BandChangedReason) {
		out = append(out, e.Note)
	}
	return out
}

func TestFailingSourcesDegradeOnlyTheirMeasures(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/accounts/") {
		case "ok":
			fmt.Fprint(w, `{"open": 2}`)
		case "down":
			http.Error(w, "backend exploded: stack trace", http.StatusServiceUnavailable)
		case "slow":
			// Answers only once the client has given up.
			<-r.Context().Done()
		case "garbage":
			fmt.Fprint(w, "\x00\x01 not json at all")
		case "huge":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"pad": "`)
			chunk := []byte(strings.Repeat("x", 1<<20))
			for range 50 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			fmt.Fprint(w, `"}`)
		}
	}))
	defer srv.Close()
	closed, err := freeAddress() // nothing listens there
	g.Expect(err).NotTo(HaveOccurred())

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support-token"},
		Data: map[string][]byte{"token": []byte("t0ken")}})
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Sources = append(p.Spec.Sources, csv1alpha1.Source{Name: "support", HTTP: &csv1alpha1.HTTPSource{
		URL: "http://{{ .ExternalIDs.host }}/accounts/{{ .ExternalIDs.support }}", AuthSecretRef: &csv1alpha1.LocalObjectReference{Name: "support-token"}}})
	p.Spec.Measures = append(p.Spec.Measures, csv1alpha1.Measure{Name: "openTickets", Source: "support", JSONPath: "{.open}",
		Thresholds: csv1alpha1.Thresholds{Bad: 10, Good: 0}, Weight: 20})
	cases := map[string]string{
		"ok": "", "down": "openTickets: HTTP 503", "slow": "openTickets: request timed out",
		"garbage": "openTickets: response is not JSON", "huge": "openTickets: response body exceeds the size limit",
		"refused": "openTickets: connection refused",
	}
	for id := range cases {
		a := newAccount(ns, id, "smb")
		a.Spec.ExternalIDs = map[string]string{"support": id, "host": strings.TrimPrefix(srv.URL, "http://")}
		if id == "refused" {
			a.Spec.ExternalIDs["host"] = closed
		}
		a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
		create(t, a)
	}
	create(t, p)

	g.Eventually(func(g Gomega) {
		for id, msg := range cases {
			a := account(g, ns, id)
			g.Expect(a.Status.Health).NotTo(BeNil(), id)
			mc := condition(a.Status.Conditions, csv1alpha1.MetricsAvailableCondition)
			if msg == "" {
				g.Expect(mc.Status).To(Equal(metav1.ConditionTrue), id)
				// 2 open tickets of 10 -> 80; sentiment 5 -> 100: (1600 + 1000) / 30.
				g.Expect(a.Status.Health.Score).To(Equal(int32(87)), id)
				continue
			}
			g.Expect(mc.Status).To(Equal(metav1.ConditionFalse), id)
			g.Expect(mc.Reason).To(Equal(csv1alpha1.MeasuresUnavailableReason), id)
			g.Expect(mc.Message).To(ContainSubstring(msg), id)
			g.Expect(mc.Message).NotTo(Or(ContainSubstring(srv.URL), ContainSubstring("t0ken"),
				ContainSubstring("exploded"), ContainSubstring("not json")), id)
			// The static measure still scores the account on its own.
			g.Expect(a.Status.Health.Score).To(Equal(int32(100)), id)
			g.Expect(a.Status.Health.Measures[1].Error).To(ContainSubstring(strings.TrimPrefix(msg, "openTickets: ")), id)
		}
	}, 30*time.Second, poll).Should(Succeed())

	// No address, port or URL reached a status or an Event.
	accts := &csv1alpha1.CustomerAccountList{}
	g.Expect(k8sClient.List(context.Background(), accts, client.InNamespace(ns))).To(Succeed())
	events := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), events, client.InNamespace(ns))).To(Succeed())
	var texts []string
	for _, a := range accts.Items {
		b, err := json.Marshal(a.Status)
		g.Expect(err).NotTo(HaveOccurred())
		texts = append(texts, string(b))
	}
	for _, e := range events.Items {
		texts = append(texts, e.Note)
	}
	// The statuses carry the sources' errors; Events, if any (a first
	// score records none), are checked too.
	g.Expect(accts.Items).To(HaveLen(len(cases)))
	for _, text := range texts {
		g.Expect(addressPattern.FindAllString(text, -1)).To(BeEmpty(), text)
	}
}

// addressPattern matches what must never reach a status or an Event: an
// IPv4 or bracketed IPv6 address, a port after a colon, a URL.
var addressPattern = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-fA-F:]+\]|:\d{4,5}\b|://|localhost`)

func TestOverrideAppliesThenExpiresByItself(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	create(t, newPlan(ns, "smb", "smb", 0))
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "5"}
	a.Spec.Overrides = []csv1alpha1.Override{{Measure: "sentiment", Value: "2", Reason: "exec sponsor left", Author: "giulia",
		Expires: metav1.NewTime(op.clock.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second))}}
	create(t, a)

	g.Eventually(func(g Gomega) {
		h := account(g, ns, "acme").Status.Health
		g.Expect(h).NotTo(BeNil())
		g.Expect(h.Measures[0].Overridden).To(BeTrue())
		g.Expect(h.Measures[0].Value).To(Equal(csv1alpha1.Decimal("2")))
		g.Expect(h.Score).To(Equal(int32(25)))
		g.Expect(h.Band).To(Equal(csv1alpha1.BandRed))
	}, timeout, poll).Should(Succeed())
	generation := account(g, ns, "acme").Generation

	// Time passes, nothing else changes: the reconciler's own requeue at the
	// expiry re-evaluates the account.
	op.clock.Step(5 * time.Second)
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Health.Measures[0].Overridden).To(BeFalse())
		g.Expect(a.Status.Health.Measures[0].Value).To(Equal(csv1alpha1.Decimal("5")))
		g.Expect(a.Status.Health.Score).To(Equal(int32(100)))
		g.Expect(a.Generation).To(Equal(generation))
	}, timeout, poll).Should(Succeed())
}

func TestHysteresisKeepsABandFromFlapping(t *testing.T) {
	g := NewWithT(t)
	op := startOperator(t)
	ns := op.ns
	p := newPlan(ns, "smb", "smb", 0)
	p.Spec.Measures[0].Thresholds = csv1alpha1.Thresholds{Bad: 0, Good: 100} // score = value
	create(t, p)
	a := newAccount(ns, "acme", "smb")
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "69"}
	create(t, a)

	steps := []struct {
		value string
		band  csv1alpha1.Band
	}{
		{"69", csv1alpha1.BandYellow}, {"70", csv1alpha1.BandYellow}, {"71", csv1alpha1.BandYellow},
		{"70", csv1alpha1.BandYellow}, {"69", csv1alpha1.BandYellow}, {"72", csv1alpha1.BandGreen},
		{"69", csv1alpha1.BandGreen}, {"68", csv1alpha1.BandGreen}, {"67", csv1alpha1.BandYellow},
	}
	for _, s := range steps {
		update(t, account(g, ns, "acme"), func(a *csv1alpha1.CustomerAccount) {
			a.Spec.Signals.Values["sentiment"] = csv1alpha1.Decimal(s.value)
		})
		g.Eventually(func(g Gomega) {
			h := account(g, ns, "acme").Status.Health
			g.Expect(h).NotTo(BeNil())
			g.Expect(h.Measures[0].Value).To(Equal(csv1alpha1.Decimal(s.value)))
			g.Expect(h.Band).To(Equal(s.band), "score %s", s.value)
		}, timeout, poll).Should(Succeed())
	}
	// Yellow at first, Green at 72, Yellow at 67: two band changes, each an
	// Event; the first score is none.
	g.Eventually(func(g Gomega) {
		g.Expect(bandEvents(g, ns, "acme")).To(ConsistOf(
			"Health band Yellow -> Green (score 72)", "Health band Green -> Yellow (score 67)"))
	}, timeout, poll).Should(Succeed())
	// The history has the entry into Onboarding (Yellow) and two band changes.
	g.Eventually(func(g Gomega) {
		g.Expect(account(g, ns, "acme").Status.History).To(HaveLen(3))
	}, timeout, poll).Should(Succeed())
}

func TestStaleValuesAreFlaggedAndHeldOnlyUntilStaleAfter(t *testing.T) {
	g := NewWithT(t)
	prom := startPrometheus(t)
	op := startOperator(t)
	ns := op.ns
	series := ns + "-acme"
	activeUsers.WithLabelValues(series).Set(35)
	g.Expect(prom.WaitForSeries(context.Background(), fmt.Sprintf(`active_users_7d{account=%q}`, series), 1)).To(Succeed())

	a := newAccount(ns, "acme", "smb")
	a.Spec.ExternalIDs = map[string]string{"telemetry": series}
	a.Spec.Signals.Values = map[string]csv1alpha1.Decimal{"sentiment": "1"}
	create(t, a)
	p := telemetryPlan(ns, prom.URL)
	p.Spec.Measures = []csv1alpha1.Measure{p.Spec.Measures[0], p.Spec.Measures[2]}
	p.Spec.Measures[0].Missing = csv1alpha1.MissingHoldLast
	p.Spec.Measures[0].StaleAfter = &metav1.Duration{Duration: 12 * time.Minute}
	p.Spec.Signals = csv1alpha1.PlanSignals{}
	create(t, p)
	// 35/50 = 0.7 -> 100, sentiment 1 -> 0: (4000 + 0) / 55 = 72.7 -> 73.
	g.Eventually(func(g Gomega) {
		h := account(g, ns, "acme").Status.Health
		g.Expect(h).NotTo(BeNil())
		g.Expect(h.Score).To(Equal(int32(73)))
	}, timeout, poll).Should(Succeed())

	// The series disappears: the last good value is held, and the failure
	// is reported.
	activeUsers.DeleteLabelValues(series)
	g.Eventually(func() ([]float64, error) {
		return queryValues(prom, fmt.Sprintf(`active_users_7d{account=%q}`, series))
	}, timeout, poll).Should(BeEmpty())
	op.stepCollection(g, 5*time.Minute, func() bool {
		return condition(account(g, ns, "acme").Status.Conditions, csv1alpha1.MetricsAvailableCondition).Status == metav1.ConditionFalse
	})
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Health.Score).To(Equal(int32(73)))
		g.Expect(a.Status.Health.Measures[0].Error).To(ContainSubstring("no series"))
		g.Expect(a.Status.Health.Measures[0].Stale).To(BeFalse())
	}, timeout, poll).Should(Succeed())

	// Past staleAfter the value is stale and no longer counts.
	op.clock.Step(15 * time.Minute)
	update(t, a, func(a *csv1alpha1.CustomerAccount) { a.Labels["touched"] = "yes" })
	g.Eventually(func(g Gomega) {
		a := account(g, ns, "acme")
		g.Expect(a.Status.Health.Measures[0].Stale).To(BeTrue())
		g.Expect(a.Status.Health.Score).To(Equal(int32(0)))
		g.Expect(condition(a.Status.Conditions, csv1alpha1.MetricsAvailableCondition).Message).To(ContainSubstring("activeSeats"))
	}, timeout, poll).Should(Succeed())
}
