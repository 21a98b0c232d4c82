package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/testenv"
)

// importPlan sends a welcome on entering Onboarding and a renewal-prep on
// entering Renewal; %s is the webhook receiver's address.
const importPlan = `apiVersion: customersuccess.dev/v1alpha1
kind: SuccessPlan
metadata:
  name: smb
spec:
  accountSelector: {matchLabels: {customersuccess.dev/segment: smb}}
  sources: [{name: csm, static: {}}]
  measures:
  - {name: seats, source: csm, key: seats, thresholds: {bad: 0, good: 10}, weight: 1}
  stages:
  - name: Onboarding
    actions: [{name: welcome, webhook: {url: "http://%[1]s/hooks"}}]
  - name: Adoption
  - name: Renewal
    actions: [{name: renewal-prep, webhook: {url: "http://%[1]s/hooks"}}]
`

// TestKubectlSuccessImportSendsNoWelcomeToLongStandingCustomers: a CRM
// export of 1,000 long-standing customers, each with the stage it is in,
// and one new customer, imported with kubectl success import and applied
// with kubectl: the operator places every customer in its stage and sends
// none of them the welcome of the first stage, recording it Skipped,
// reason Imported; the new customer gets its welcome, and the customers
// placed in Renewal that stage's action.
func TestKubectlSuccessImportSendsNoWelcomeToLongStandingCustomers(t *testing.T) {
	t.Parallel()
	const customers = 1000
	c := startCluster(t)
	ns := testenv.Namespace(t, c, "import-")
	var mu sync.Mutex
	sent := map[string]int{} // account/action -> deliveries
	addr, stop, err := testenv.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p actions.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		sent[p.Account+"/"+p.Action]++
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	runOperator(t, ns)
	mustKubectlIn(t, fmt.Sprintf(importPlan, addr), "apply", "-n", ns, "-f", "-")

	stageOf := func(i int) string {
		if i%100 == 0 {
			return "Renewal"
		}
		return "Adoption"
	}
	var export strings.Builder
	export.WriteString("Name,Segment,Stage,Seats,StartDate,RenewalDate,MRR,externalIDs.crm\n")
	for i := range customers {
		fmt.Fprintf(&export, "customer-%04d,smb,%s,%d,2023-01-01,2027-01-01,100,crm-%d\n", i, stageOf(i), 5+i%10, i)
	}
	export.WriteString("newcomer,smb,,5,2026-11-01,2027-11-01,50,crm-new\n")
	dir := filepath.Join(t.TempDir(), "accounts")
	out := mustKubectlIn(t, export.String(), "success", "import", "-", "-n", ns, "--output-dir", dir)
	if want := fmt.Sprintf("Wrote %d CustomerAccount manifests", customers+1); !strings.Contains(out, want) {
		t.Fatalf("import said %q, want %q", out, want)
	}
	files, err := os.ReadDir(dir)
	if err != nil || len(files) != customers+1 {
		t.Fatalf("%d files in %s (%v), want %d", len(files), dir, err, customers+1)
	}
	mustKubectl(t, "apply", "--server-side", "-n", ns, "-f", dir)

	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		list := &csv1alpha1.CustomerAccountList{}
		g.Expect(c.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(customers + 1))
		for _, a := range list.Items {
			g.Expect(a.Status.Stage).NotTo(BeEmpty(), a.Name)
			if a.Name == "newcomer" {
				g.Expect(a.Status.Stage).To(Equal("Onboarding"))
				g.Expect(a.Status.Actions).To(ConsistOf(HaveField("State", csv1alpha1.ActionDelivered)))
				continue
			}
			var i int
			_, err := fmt.Sscanf(a.Name, "customer-%04d", &i)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(a.Status.Stage).To(Equal(stageOf(i)), a.Name)
			g.Expect(a.Status.Actions).To(ContainElement(And(
				HaveField("Name", "welcome"), HaveField("State", csv1alpha1.ActionSkipped),
				HaveField("Reason", csv1alpha1.ImportedReason))), a.Name)
			if stageOf(i) == "Renewal" {
				g.Expect(a.Status.Actions).To(ContainElement(And(
					HaveField("Name", "renewal-prep"), HaveField("State", csv1alpha1.ActionDelivered))), a.Name)
			}
		}
	}, 5*time.Minute, time.Second).Should(Succeed())

	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"newcomer/welcome": 1}
	for i := 0; i < customers; i += 100 {
		want[fmt.Sprintf("customer-%04d/renewal-prep", i)] = 1
	}
	g.Expect(sent).To(Equal(want), "the webhook receiver got a welcome only for the new customer")
}
