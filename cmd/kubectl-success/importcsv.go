package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"customersuccess.dev/success-operator/internal/csvimport"
)

func init() { verbs = append(verbs, newImportCommand) }

// newImportCommand returns `kubectl success import`.
func newImportCommand(o *rootOptions) *cobra.Command {
	var dir, plan string
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Write CustomerAccount manifests from a CRM's CSV export",
		Long: `Import reads a CSV export of customers from a CRM, with a header row, and
writes one CustomerAccount manifest per row into a directory, as
<name>.yaml, for a GitOps repository (or kubectl apply -f DIR). It talks
to no cluster.

The columns, matched without regard to case, in any order: name (required,
the object's name), displayName, owner, segment (the label
customersuccess.dev/segment), plan (spec.successPlanRef), stage
(spec.initialStage: the stage a long-standing customer is placed in, so
that the actions of the stages before it are recorded Skipped, reason
Imported, not sent), tier, seats, currency, startDate and renewalDate
(YYYY-MM-DD), mrr (a New ledger entry on startDate), acquisitionCost, and
externalIDs.<system> for each system a source matches accounts by. Empty
cells set nothing.

The first bad cell stops the import before any file is written, naming
its row and column. Use - to read standard input.`,
		Example: `  kubectl success import crm-export.csv -n customers --plan smb --output-dir accounts/
  kubectl success import - -n customers < crm-export.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runImport(o, args[0], dir, plan)
		},
	}
	cmd.Flags().StringVar(&dir, "output-dir", ".", "The directory to write the manifests into; created when missing")
	cmd.Flags().StringVar(&plan, "plan", "", "The successPlanRef of rows without a plan column; empty leaves it to the plans' selectors")
	return cmd
}

// runImport reads the CSV and writes a manifest per row.
func runImport(o *rootOptions, file, dir, plan string) error {
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	in := io.Reader(o.streams.In)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		in = f
	}
	accounts, err := csvimport.Read(in, csvimport.Options{Namespace: ns, Plan: plan})
	var cellErr *csvimport.Error
	if errors.As(err, &cellErr) {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, a := range accounts {
		u, err := toUnstructured(a)
		if err != nil {
			return err
		}
		// A manifest holds what a person writes: no status, no server fields.
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, a.Name+".yaml"), data, 0o644); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(o.streams.Out, "Wrote %d CustomerAccount manifests to %s\n", len(accounts), dir)
	return err
}
