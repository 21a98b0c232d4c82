package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/testenv"
)

// bareEnv names the environment variable that turns the benchmark's
// binary (or its test binary) into the bare status loop; its value is the
// path of the loop's bareConfig.
const bareEnv = "BENCHSCALE_BARE"

// bareConfig is what the bare loop needs: the manager's client settings
// and the status to write.
type bareConfig struct {
	Kubeconfig  string          `json:"kubeconfig"`
	Namespace   string          `json:"namespace"`
	QPS         float64         `json:"qps"`
	Burst       int             `json:"burst"`
	Concurrency int             `json:"concurrency"`
	Status      json.RawMessage `json:"status"`
}

// bareMain is the bare status loop: the least any controller must do for
// a cold start. With the manager's client settings and account
// concurrency, it lists the accounts' names page by page, then merge-patches
// each account's status once with the status the operator wrote for one
// of them. It then waits for its stdin to close, so that the benchmark
// reads its CPU time while it lives.
func bareMain(path string) int {
	if err := bare(context.Background(), path); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

func bare(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c bareConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(c.QPS), c.Burst
	cl, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]json.RawMessage{"status": c.Status})
	if err != nil {
		return err
	}
	// The names are read first, page after page: a list whose pages were
	// read as the patches went would outlive its continue token (the
	// API server's compaction, every five minutes) at 100,000 accounts.
	all, err := listNames(ctx, cl, c.Namespace)
	if err != nil {
		return err
	}
	names := make(chan string)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(names)
		for _, name := range all {
			select {
			case names <- name:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range max(c.Concurrency, 1) {
		g.Go(func() error {
			for name := range names {
				acct := &csv1alpha1.CustomerAccount{}
				acct.Namespace, acct.Name = c.Namespace, name
				if err := cl.Status().Patch(ctx, acct, client.RawPatch(types.MergePatchType, patch)); err != nil {
					return fmt.Errorf("patching %s: %w", name, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// listNames returns the names of the namespace's accounts, read page by
// page as metadata only.
func listNames(ctx context.Context, cl client.Client, ns string) ([]string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(csv1alpha1.GroupVersion.WithKind("CustomerAccountList"))
	var names []string
	for {
		if err := cl.List(ctx, list, client.InNamespace(ns), client.Limit(pageSize), client.Continue(list.Continue)); err != nil {
			return nil, err
		}
		for i := range list.Items {
			names = append(names, list.Items[i].Name)
		}
		if list.Continue == "" {
			return names, nil
		}
	}
}
