// Command kubectl-success is a kubectl plugin for customer-success
// managers and leaders: `kubectl success explain ACCOUNT` says why an
// account's health is what it is and what comes next, `kubectl success
// plans` compares the plans of a namespace side by side, `kubectl
// success preview -f PLAN` shows what a changed plan would do to its
// accounts before it is applied, and `kubectl success import FILE.csv`
// writes CustomerAccount manifests from a CRM's CSV export.
//
// explain and plans read CustomerAccounts and SuccessPlans and compute
// nothing: every figure comes from their spec and status. preview evaluates
// with the operator's own packages (internal/evaluate): one scoring code
// path, never a copy. Install
// it with `go install customersuccess.dev/success-operator/cmd/kubectl-success@latest`
// or `make plugin`; kubectl finds it on PATH.
//
// A verb is one file: its constructor adds itself to verbs in an init
// function, and the helpers every verb shares are in common.go.
package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// The client logs nothing a user needs; without a logger
	// controller-runtime complains on stderr instead.
	ctrllog.SetLogger(logr.Discard())
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := newRootCommand(streams)
	cmd.SetArgs(os.Args[1:])
	if err := cmd.Execute(); err != nil {
		_, _ = fmt.Fprintln(streams.ErrOut, "error:", err) // the exit code says it all when stderr is gone
		os.Exit(exitCode(err))
	}
}

// newRootCommand returns `kubectl success` with the cli-runtime connection
// flags (--kubeconfig, --context, -n and the rest) and every verb.
func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &rootOptions{
		configFlags: genericclioptions.NewConfigFlags(true),
		streams:     streams,
	}
	cmd := &cobra.Command{
		Use:   "kubectl-success",
		Short: "Explain customer accounts, compare success plans, preview plan changes, import customers",
		Long: `kubectl success reads the CustomerAccounts and SuccessPlans of success-operator
and shows them for people: why an account's health is what it is and what
comes next, the plans of a namespace side by side, and what a changed plan
would do to its accounts before it is applied; and it turns a CRM's CSV
export into CustomerAccount manifests.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl success"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// kubectl completes plugins through kubectl_complete-success scripts,
	// not through a completion verb.
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	o.configFlags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&o.now, "now", "",
		"The moment (RFC 3339) ages and due times are counted from, instead of the current time")
	_ = cmd.PersistentFlags().MarkHidden("now")

	for _, v := range verbs {
		cmd.AddCommand(v(o))
	}
	return cmd
}
