package collect

import (
	"context"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// k8sClient reads and writes the package's real control plane: an API
// server and etcd built from source, with the operator's CRDs installed.
var k8sClient client.Client

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// Info and above: the collectors' errors, without the control plane's
	// debug lines.
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapcore.InfoLevel)))
	return testenv.RunTests(m, func(_ *rest.Config, c client.Client) { k8sClient = c })
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string { return testenv.Namespace(t, k8sClient, "collect-") }

// create creates objs through the API server, which validates them
// against the CRDs and sets their server fields (generation, defaults).
func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		if err := k8sClient.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
		// The account reconciler resolves an account's plan into
		// status.plan, which collectors list accounts by.
		if a, ok := obj.(*csv1alpha1.CustomerAccount); ok && a.Spec.SuccessPlanRef != nil {
			a.Status.Plan = a.Spec.SuccessPlanRef.Name
			if err := k8sClient.Status().Update(context.Background(), a); err != nil {
				t.Fatalf("resolving the plan of %s: %v", a.Name, err)
			}
		}
	}
}

// listMembers reads Members straight from the API server, which selects
// accounts by status.plan (a selectable field of the CRD).
func listMembers(c client.Reader) Members {
	byPlan := func(ctx context.Context, ns, plan string) ([]*csv1alpha1.CustomerAccount, error) {
		list := &csv1alpha1.CustomerAccountList{}
		if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{csv1alpha1.PlanField: plan}); err != nil {
			return nil, err
		}
		out := make([]*csv1alpha1.CustomerAccount, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
	return func(ctx context.Context, ns, plan string) (managed, unresolved []*csv1alpha1.CustomerAccount, err error) {
		if managed, err = byPlan(ctx, ns, plan); err == nil {
			unresolved, err = byPlan(ctx, ns, "")
		}
		return managed, unresolved, err
	}
}
