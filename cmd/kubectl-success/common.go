package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// verbs are the constructors of the subcommands: each verb's file adds
// its own in an init function, so that a new verb is one new file.
var verbs []func(*rootOptions) *cobra.Command

// rootOptions is what every verb shares: the cli-runtime connection flags,
// the streams, and the clock.
type rootOptions struct {
	configFlags *genericclioptions.ConfigFlags
	streams     genericiooptions.IOStreams
	// now is the moment ages, days in stage and due times are counted
	// from; --now sets it for reproducible output.
	now string
}

// scheme holds the operator's API, the only kinds the plugin reads.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(csv1alpha1.AddToScheme(s))
	return s
}()

// clock returns the moment to count from: --now, else the current time.
func (o *rootOptions) clock() (time.Time, error) {
	if o.now == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, o.now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--now: %w", err)
	}
	return t, nil
}

// client returns a client for the cluster of the kubeconfig and context
// the flags select.
func (o *rootOptions) client() (client.Client, error) {
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-success"
	return client.New(cfg, client.Options{Scheme: scheme})
}

// namespace returns the namespace of -n, else the context's, else default.
func (o *rootOptions) namespace() (string, error) {
	ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// outputFlags adds the cli-runtime printer flags (-o json|yaml|name|
// jsonpath=...|go-template=..., --show-managed-fields) to cmd. An empty
// -o means the verb's human view.
func outputFlags(cmd *cobra.Command) *genericclioptions.PrintFlags {
	f := genericclioptions.NewPrintFlags("")
	f.AddFlags(cmd)
	return f
}

// wantsObjects says whether -o (or --template) asks for the objects
// rather than the human view.
func wantsObjects(f *genericclioptions.PrintFlags) bool {
	if f.OutputFormat != nil && *f.OutputFormat != "" {
		return true
	}
	t := f.TemplatePrinterFlags
	return t != nil && t.TemplateArgument != nil && *t.TemplateArgument != ""
}

// printObjects prints objs as one v1 List, as `kubectl get a b -o yaml`
// does, with the printer -o selects.
func printObjects(f *genericclioptions.PrintFlags, w io.Writer, objs ...client.Object) error {
	p, err := f.ToPrinter()
	if err != nil {
		return err
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{
		"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""},
	}}
	for _, obj := range objs {
		u, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *u)
	}
	return p.PrintObj(list, w)
}

// toUnstructured returns obj with its apiVersion and kind, which typed
// objects read through a client lack.
func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// style is how human output is drawn: plain ASCII when stdout is not a
// terminal, block characters and colours when it is.
type style struct {
	// unicode allows block characters in bars.
	unicode bool
	// color allows ANSI colours.
	color bool
}

// styleFor returns the style for w: plain unless w is a terminal; no
// colours under NO_COLOR (no-color.org) or TERM=dumb.
func styleFor(w io.Writer) style {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return style{}
	}
	dumb := os.Getenv("TERM") == "dumb"
	return style{unicode: !dumb, color: !dumb && os.Getenv("NO_COLOR") == ""}
}

// ANSI colours.
const (
	red    = "31"
	green  = "32"
	yellow = "33"
	cyan   = "36"
)

// paint wraps s in an ANSI colour when the style allows colours. Only the
// last column of a table or text outside tables is painted: tabwriter
// would count the escape codes as width.
func (s style) paint(code, text string) string {
	if !s.color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// pointsPerCell is how many score points one bar cell stands for: a full
// score of 100 is 20 cells, and the bars of a score's measures add up to
// the bar of the score.
const pointsPerCell = 5

// bar draws points as a bar: '#' per cell in plain text, block
// characters with eighths of a cell on a terminal.
func (s style) bar(points float64) string {
	if points <= 0 || math.IsNaN(points) {
		return ""
	}
	cells := min(points, 100) / pointsPerCell
	if !s.unicode {
		return strings.Repeat("#", int(math.Round(cells)))
	}
	eighths := int(math.Round(cells * 8))
	b := strings.Repeat("█", eighths/8)
	if r := eighths % 8; r > 0 {
		b += string([]rune("▏▎▍▌▋▊▉")[r-1])
	}
	return b
}

// printer writes text and tables, and keeps the first error, as
// bufio.Writer does. Rows go through a tabwriter with kubectl's spacing;
// a line flushes the table before it, so that the two keep their order.
type printer struct {
	w   io.Writer
	tw  *tabwriter.Writer
	err error
}

func newPrinter(w io.Writer) *printer {
	return &printer{w: w, tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
}

// line writes a line of text, after the table rows before it.
func (p *printer) line(format string, a ...any) {
	p.flush()
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", a...)
	}
}

// row writes cells as one table row.
func (p *printer) row(cells ...string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.tw, strings.Join(cells, "\t")+"\n")
	}
}

// flush writes the table rows so far, aligned.
func (p *printer) flush() {
	if p.err == nil {
		p.err = p.tw.Flush()
	}
}

// done flushes and returns the first error.
func (p *printer) done() error {
	p.flush()
	return p.err
}

// orDash returns s, or "-" when s is empty, so that a table has no holes.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stamp formats a moment in UTC to the minute.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// relative says how far t is from now, in the largest whole unit:
// "in 3d", "5h ago", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d >= -time.Minute && d <= time.Minute {
		return "now"
	}
	if d > 0 {
		return "in " + shortDuration(d)
	}
	return shortDuration(-d) + " ago"
}

// shortDuration formats d as whole days, hours or minutes, as kubectl's
// AGE column does.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
}

// exitError is an error with its own exit code: a verb's gate that fails
// (a CI check) exits differently from an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit code of err: its own for an exitError, else 1.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
