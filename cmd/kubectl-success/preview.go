package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/expr"
	kpis "customersuccess.dev/success-operator/internal/kpi" // plans.go has a func kpi
	"customersuccess.dev/success-operator/internal/membership"
)

func init() { verbs = append(verbs, newPreviewCommand) }

// exitGateFailed is the exit code of a preview whose --fail-on gate is
// exceeded; 1 stays for errors, an invalid plan included.
const exitGateFailed = 2

// previewOptions are the flags of `kubectl success preview`.
type previewOptions struct {
	file     string
	accounts string
	all      bool
	output   string
	failOn   string
}

// newPreviewCommand returns `kubectl success preview -f PLAN`.
func newPreviewCommand(o *rootOptions) *cobra.Command {
	po := &previewOptions{}
	cmd := &cobra.Command{
		Use:   "preview -f PLAN.yaml",
		Short: "Preview what a changed success plan would do to its accounts",
		Long: `Preview validates a changed SuccessPlan as the operator does, then evaluates it
against the accounts it would select, with the operator's own scoring code
and the measure values those accounts record in their status, and shows
per account the score, band, stage and risk before -> after, the band
counts before -> after, and the MRR entering and leaving Red and at risk.
It writes nothing.

The plan is validated by the API server as a server-side dry run (its
schema and CEL rules, unknown fields included), then as the operator
validates it (expressions type-check, every measure names a source); an
invalid plan is refused with the messages that name the fields, exit code 1.
With --accounts DIR the preview runs offline, without a cluster, against
the CustomerAccount (and SuccessPlan) manifests under DIR, with their
status (for instance from 'kubectl get customeraccounts -o yaml'): only the
operator's checks run there, not the API server's schema.

Only the accounts that change are listed; --all lists every one. A value
the status records as current counts as current at the preview's moment; a
measure without a recorded value (a new remote measure) counts as missing.

--fail-on makes the preview a gate: comma-separated limits, each exceeded
when the preview goes above it, exit code 2:
  band-changes=N   accounts whose band changes
  stage-changes=N  accounts whose stage changes
  red=N            accounts entering Red
  at-risk-mrr=X    MRR entering at risk (AtRisk or Red)`,
		Example: `  kubectl success preview -f plans/smb.yaml
  cat plans/smb.yaml | kubectl success preview -f - -o json
  kubectl success preview --accounts accounts/ -f plans/smb.yaml --fail-on band-changes=10,at-risk-mrr=5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPreview(cmd.Context(), o, po)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&po.file, "filename", "f", "", "The SuccessPlan manifest to preview, - for stdin")
	f.StringVar(&po.accounts, "accounts", "",
		"Preview offline against the CustomerAccount and SuccessPlan manifests under this directory, with their status")
	f.BoolVar(&po.all, "all", false, "List every account, not only those that change")
	f.StringVarP(&po.output, "output", "o", "", "Output format: json or yaml; empty for the table")
	f.StringVar(&po.failOn, "fail-on", "",
		"Exit with code 2 when the preview exceeds a limit: band-changes=N, stage-changes=N, red=N, at-risk-mrr=X (comma-separated)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// runPreview reads and validates the plan, gathers the accounts, previews
// and prints, and applies the gates.
func runPreview(ctx context.Context, o *rootOptions, po *previewOptions) error {
	now, err := o.clock()
	if err != nil {
		return err
	}
	gates, err := parseFailOn(po.failOn)
	if err != nil {
		return err
	}
	if po.output != "" && po.output != "json" && po.output != "yaml" {
		return fmt.Errorf("--output %q: want json or yaml", po.output)
	}
	raw, err := readPlanFile(po.file, o.streams.In)
	if err != nil {
		return err
	}
	doc, err := planDocument(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", po.file, err)
	}
	ns, err := previewNamespace(o, doc.GetNamespace())
	if err != nil {
		return err
	}
	doc.SetNamespace(ns)

	var in *previewInput
	if po.accounts != "" {
		in, err = offlineInput(doc, ns, po.accounts)
	} else {
		in, err = clusterInput(ctx, o, doc, ns)
	}
	if err != nil {
		return err
	}
	compiler, err := expr.NewCompiler()
	if err != nil {
		return err
	}
	in.model = evaluate.Compile(compiler, in.plan)
	if !in.model.Valid() {
		// The message of the plan's Valid condition and of its accounts'
		// PlanInvalid, word for word.
		return fmt.Errorf("SuccessPlan %q is not valid: %s", in.plan.Name, in.model.Message())
	}
	in.now = now
	res := buildPreview(in)
	res.Offline = po.accounts != ""

	if err := printPreview(o.streams.Out, res, po); err != nil {
		return err
	}
	if exceeded := gates.check(res); len(exceeded) > 0 {
		return &exitError{code: exitGateFailed, err: fmt.Errorf("--fail-on: %s", strings.Join(exceeded, "; "))}
	}
	return nil
}

// printPreview prints the result as -o asks: JSON, YAML or the table.
func printPreview(w io.Writer, res *previewResult, po *previewOptions) error {
	var b []byte
	var err error
	switch po.output {
	case "json":
		if b, err = json.MarshalIndent(res, "", "  "); err == nil {
			b = append(b, '\n')
		}
	case "yaml":
		b, err = yaml.Marshal(res)
	default:
		return renderPreview(w, res, po.all)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// readPlanFile reads the file, or in for "-".
func readPlanFile(name string, in io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(in)
	}
	return os.ReadFile(name)
}

// planDocument returns the one SuccessPlan of a manifest.
func planDocument(raw []byte) (*unstructured.Unstructured, error) {
	objs, err := decodeDocuments(raw)
	if err != nil {
		return nil, err
	}
	var plan *unstructured.Unstructured
	for _, u := range objs {
		if u.GroupVersionKind() != csv1alpha1.GroupVersion.WithKind("SuccessPlan") {
			continue
		}
		if plan != nil {
			return nil, errors.New("more than one SuccessPlan: preview one at a time")
		}
		plan = u
	}
	if plan == nil {
		return nil, fmt.Errorf("no SuccessPlan of %s", csv1alpha1.GroupVersion)
	}
	if plan.GetName() == "" {
		return nil, errors.New("the SuccessPlan has no metadata.name")
	}
	return plan, nil
}

// decodeDocuments decodes every YAML or JSON document of raw, the items
// of a List in its place. Empty documents are skipped.
func decodeDocuments(raw []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			err := u.EachListItem(func(obj runtime.Object) error {
				out = append(out, obj.(*unstructured.Unstructured))
				return nil
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, u)
	}
}

// previewNamespace is the plan's namespace: the manifest's, else -n, else
// the context's; as kubectl apply, a -n that contradicts the manifest is
// an error.
func previewNamespace(o *rootOptions, manifest string) (string, error) {
	ns, explicit, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	switch {
	case manifest == "" && err != nil:
		return "", err
	case manifest == "":
		return ns, nil
	case explicit && ns != manifest:
		return "", fmt.Errorf("the namespace of the plan (%s) does not match the namespace of -n (%s)", manifest, ns)
	}
	return manifest, nil
}

// previewInput is what a preview reads: the changed plan, compiled, the
// namespace's plans and accounts as they are, and the moment.
type previewInput struct {
	plan     *csv1alpha1.SuccessPlan
	model    *evaluate.Model
	plans    []csv1alpha1.SuccessPlan
	accounts []csv1alpha1.CustomerAccount
	now      time.Time
}

// clusterInput validates the plan through a server-side dry run (create
// when absent, update when present), so that the API server's schema and
// CEL rules refuse it with their field-named messages, and reads the
// namespace's plans and accounts. The plan previewed is the one the dry
// run returns, with the schema's defaults.
func clusterInput(ctx context.Context, o *rootOptions, doc *unstructured.Unstructured, ns string) (*previewInput, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	// The update carries the resourceVersion read: the operator writing
	// the plan's status in between is a conflict, and the dry run is tried
	// again on the plan as it is then.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempt := doc.DeepCopy()
		current := &csv1alpha1.SuccessPlan{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: doc.GetName()}, current)
		switch {
		case apierrors.IsNotFound(err):
			err = c.Create(ctx, attempt, client.DryRunAll, client.FieldValidation("Strict"))
		case err == nil:
			attempt.SetResourceVersion(current.ResourceVersion)
			err = c.Update(ctx, attempt, client.DryRunAll, client.FieldValidation("Strict"))
		}
		if err == nil {
			doc = attempt
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	plan := &csv1alpha1.SuccessPlan{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(doc.Object, plan); err != nil {
		return nil, err
	}
	plans := &csv1alpha1.SuccessPlanList{}
	if err := c.List(ctx, plans, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	accts := &csv1alpha1.CustomerAccountList{}
	if err := c.List(ctx, accts, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	return &previewInput{plan: plan, plans: plans.Items, accounts: accts.Items}, nil
}

// offlineInput decodes the plan strictly (an unknown field is an error,
// as kubectl apply's default validation makes it) and reads the accounts
// and plans of namespace ns under dir. Manifests without a namespace are
// in ns.
func offlineInput(doc *unstructured.Unstructured, ns, dir string) (*previewInput, error) {
	b, err := json.Marshal(doc.Object)
	if err != nil {
		return nil, err
	}
	plan := &csv1alpha1.SuccessPlan{}
	if err := yaml.UnmarshalStrict(b, plan); err != nil {
		return nil, fmt.Errorf("SuccessPlan %q: %w", doc.GetName(), err)
	}
	in := &previewInput{plan: plan}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := decodeDocuments(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, u := range objs {
			if err := in.add(u, ns); err != nil {
				return fmt.Errorf("%s: %s %q: %w", path, u.GetKind(), u.GetName(), err)
			}
		}
		return nil
	})
	return in, err
}

// add keeps u when it is an account or a plan of namespace ns.
func (in *previewInput) add(u *unstructured.Unstructured, ns string) error {
	if u.GroupVersionKind().GroupVersion() != csv1alpha1.GroupVersion {
		return nil
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(ns)
	}
	if u.GetNamespace() != ns {
		return nil
	}
	switch u.GetKind() {
	case "CustomerAccount":
		a := csv1alpha1.CustomerAccount{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
			return err
		}
		in.accounts = append(in.accounts, a)
	case "SuccessPlan":
		p := csv1alpha1.SuccessPlan{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
			return err
		}
		in.plans = append(in.plans, p)
	}
	return nil
}

// previewResult is what `kubectl success preview -o json|yaml` prints.
type previewResult struct {
	// Plan and Namespace name the plan previewed.
	Plan      string `json:"plan"`
	Namespace string `json:"namespace"`
	// At is the moment of the evaluation.
	At metav1.Time `json:"at"`
	// Offline is true for --accounts: the API server did not validate.
	Offline bool `json:"offline"`
	// Changed is true when any account changes score, band, stage or risk.
	Changed bool `json:"changed"`
	// Accounts are every account the plan would manage, by name.
	Accounts []accountPreview `json:"accounts"`
	// Leaving are the accounts the plan manages now and would no longer
	// manage: another plan (or none) evaluates them; not previewed.
	Leaving []string `json:"leaving,omitempty"`
	// Bands counts the accounts per band, before and after.
	Bands bandShift `json:"bands"`
	// BandChanges, StageChanges and ScoreChanges count the accounts whose
	// band, stage or score changes.
	BandChanges  int `json:"bandChanges"`
	StageChanges int `json:"stageChanges"`
	ScoreChanges int `json:"scoreChanges"`
	// Red is the MRR of the accounts in Red; AtRisk that of the accounts
	// at risk (AtRisk or Red, as the plan's status.mrrAtRisk).
	Red    mrrShift `json:"red"`
	AtRisk mrrShift `json:"atRisk"`
}

// accountPreview is one account before and after.
type accountPreview struct {
	Name string `json:"name"`
	// MRR is the account's MRR at the preview's moment.
	MRR    csv1alpha1.Decimal `json:"mrr"`
	Before accountState       `json:"before"`
	After  accountState       `json:"after"`
	// Changes lists what changes: score, band, stage, atRisk, and plan
	// when another plan (or none) evaluates the account now.
	Changes []string `json:"changes,omitempty"`
	// Notes say where the preview is not a plain evaluation: a measure
	// without a recorded value, an expression failing, an account the
	// operator does not evaluate.
	Notes []string `json:"notes,omitempty"`

	mrr *big.Rat
}

// accountState is an account's health and stage; an empty band means not
// scored.
type accountState struct {
	Score  int32           `json:"score"`
	Band   csv1alpha1.Band `json:"band,omitempty"`
	Stage  string          `json:"stage,omitempty"`
	AtRisk bool            `json:"atRisk"`
}

// bandShift is the band counts before and after.
type bandShift struct {
	Before csv1alpha1.BandCounts `json:"before"`
	After  csv1alpha1.BandCounts `json:"after"`
}

// mrrShift is the MRR of a set of accounts (in Red, at risk) before and
// after, and the MRR and accounts entering and leaving it.
type mrrShift struct {
	Before   csv1alpha1.Decimal `json:"before"`
	After    csv1alpha1.Decimal `json:"after"`
	Entering csv1alpha1.Decimal `json:"entering"`
	Leaving  csv1alpha1.Decimal `json:"leaving"`
	// EnteringAccounts and LeavingAccounts name them.
	EnteringAccounts []string `json:"enteringAccounts,omitempty"`
	LeavingAccounts  []string `json:"leavingAccounts,omitempty"`

	entering *big.Rat
}

// buildPreview evaluates the changed plan against the accounts it would
// manage, with the plans of the namespace as they are but for it.
func buildPreview(in *previewInput) *previewResult {
	plan := in.plan
	res := &previewResult{Plan: plan.Name, Namespace: plan.Namespace, At: metav1.NewTime(in.now.UTC())}
	plans := slices.Clone(in.plans)
	var current *csv1alpha1.SuccessPlan
	if i := slices.IndexFunc(plans, func(p csv1alpha1.SuccessPlan) bool { return p.Name == plan.Name }); i >= 0 {
		current = in.plans[i].DeepCopy()
		plans[i] = *plan
	} else {
		plans = append(plans, *plan)
	}
	accts := make([]*csv1alpha1.CustomerAccount, len(in.accounts))
	for i := range in.accounts {
		accts[i] = &in.accounts[i]
	}
	managed := membership.Managed(plan, accts, plans)
	sort.Slice(managed, func(i, j int) bool { return managed[i].Name < managed[j].Name })
	if current != nil {
		for _, a := range membership.Managed(current, accts, in.plans) {
			if !slices.Contains(managed, a) {
				res.Leaving = append(res.Leaving, a.Name)
			}
		}
		sort.Strings(res.Leaving)
	}

	var red, risk mrrTally
	for _, acct := range managed {
		ap := previewAccount(acct, plan, in.model, in.now)
		res.Bands.Before.Add(ap.Before.Band, 1)
		res.Bands.After.Add(ap.After.Band, 1)
		for _, c := range ap.Changes {
			switch c {
			case "band":
				res.BandChanges++
			case "stage":
				res.StageChanges++
			case "score":
				res.ScoreChanges++
			}
		}
		res.Changed = res.Changed || slices.ContainsFunc(ap.Changes, func(c string) bool { return c != "plan" })
		red.add(ap, ap.Before.Band == csv1alpha1.BandRed, ap.After.Band == csv1alpha1.BandRed)
		risk.add(ap, ap.Before.AtRisk, ap.After.AtRisk)
		res.Accounts = append(res.Accounts, ap)
	}
	res.Red, res.AtRisk = red.shift(), risk.shift()
	return res
}

// mrrTally sums the MRR of a set of accounts before and after.
type mrrTally struct {
	before, after, entering, leaving big.Rat
	enteringNames, leavingNames      []string
}

// add counts an account in the set before and after as given.
func (t *mrrTally) add(ap accountPreview, before, after bool) {
	if ap.mrr == nil {
		return // the operator leaves an account with an invalid ledger out of the sums
	}
	if before {
		t.before.Add(&t.before, ap.mrr)
	}
	if after {
		t.after.Add(&t.after, ap.mrr)
	}
	switch {
	case after && !before:
		t.entering.Add(&t.entering, ap.mrr)
		t.enteringNames = append(t.enteringNames, ap.Name)
	case before && !after:
		t.leaving.Add(&t.leaving, ap.mrr)
		t.leavingNames = append(t.leavingNames, ap.Name)
	}
}

func (t *mrrTally) shift() mrrShift {
	return mrrShift{Before: money(&t.before), After: money(&t.after), Entering: money(&t.entering), Leaving: money(&t.leaving),
		EnteringAccounts: t.enteringNames, LeavingAccounts: t.leavingNames, entering: new(big.Rat).Set(&t.entering)}
}

// money formats an amount as the plan's status does.
func money(r *big.Rat) csv1alpha1.Decimal { return csv1alpha1.Decimal(kpis.FormatDecimal(r, 2)) }

// previewAccount evaluates one account under the changed plan as the
// account reconciler would (reconcileRevenue, reconcileHealth,
// reconcileStage, reconcileSignals), from its status.
func previewAccount(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan, model *evaluate.Model, now time.Time) accountPreview {
	ap := accountPreview{Name: acct.Name, Before: recordedState(acct)}
	mrr, _, ledgerErr := kpis.MRR(acct.Spec.Contract.Revenue, now)
	if ledgerErr == nil {
		ap.mrr, ap.MRR = mrr, money(mrr)
	}
	switch {
	case acct.Spec.Suspend:
		ap.After = ap.Before
		ap.Notes = append(ap.Notes, "suspended: the operator keeps its status")
	case ledgerErr != nil:
		ap.After = ap.Before
		ap.Notes = append(ap.Notes, "not evaluated: "+ledgerErr.Error())
	default:
		ap.After, ap.Notes = evaluateAccount(evaluate.Account{Object: acct, MRR: mrr, Now: now}, plan, model)
	}
	b, a := ap.Before, ap.After
	if a.Score != b.Score || (a.Band == "") != (b.Band == "") {
		ap.Changes = append(ap.Changes, "score")
	}
	if a.Band != b.Band {
		ap.Changes = append(ap.Changes, "band")
	}
	if a.Stage != b.Stage {
		ap.Changes = append(ap.Changes, "stage")
	}
	if a.AtRisk != b.AtRisk {
		ap.Changes = append(ap.Changes, "atRisk")
	}
	if acct.Status.Plan != plan.Name {
		ap.Changes = append(ap.Changes, "plan")
	}
	return ap
}

// evaluateAccount runs the operator's evaluation of one account, with the
// remote measures' values its status records.
func evaluateAccount(a evaluate.Account, plan *csv1alpha1.SuccessPlan, model *evaluate.Model) (accountState, []string) {
	acct := a.Object
	in := evaluate.Measures(a, plan, model, evaluate.Recorded(acct, a.Now))
	res := evaluate.Health(a.Now, plan, in.Measures, acct.Status.Health)
	step := evaluate.Stage(a, plan, model, &res)
	conds, failed := evaluate.Signals(a, model, &res, step)
	st := accountState{Score: res.Status.Score, Band: res.Status.Band, Stage: step.Stage,
		AtRisk: evaluate.AtRisk(conds, &res.Status)}
	var notes []string
	if len(in.Awaited) > 0 {
		notes = append(notes, "no recorded value, counted as missing: "+strings.Join(in.Awaited, ", "))
	}
	errs := append(append(in.NormalizeErrors(), step.Errors...), failed...)
	if len(errs) > 0 {
		notes = append(notes, "evaluation failed: "+errs.ToAggregate().Error())
	}
	return st, notes
}

// recordedState is the account as its status records it; at risk as the
// plan's status.mrrAtRisk counts it: AtRisk=True or a Red band.
func recordedState(acct *csv1alpha1.CustomerAccount) accountState {
	st := accountState{Stage: acct.Status.Stage, AtRisk: evaluate.AtRisk(acct.Status.Conditions, acct.Status.Health)}
	if h := acct.Status.Health; h != nil {
		st.Score, st.Band = h.Score, h.Band
	}
	return st
}

// renderPreview writes the preview as text: the accounts that change (all
// with all), then the band counts and the MRR in Red and at risk.
func renderPreview(w io.Writer, res *previewResult, all bool) error {
	p := newPrinter(w)
	changed := 0
	for _, a := range res.Accounts {
		if len(a.Changes) > 0 {
			changed++
		}
	}
	where := ""
	if res.Offline {
		where = " (offline)"
	}
	p.line("Preview of SuccessPlan %s/%s%s at %s: %s, %d changing.", res.Namespace, res.Plan, where, stamp(res.At.Time),
		plural(len(res.Accounts), "account"), changed)
	if len(res.Accounts) > 0 && (all || changed > 0) {
		p.line("")
		p.row("ACCOUNT", "SCORE", "BAND", "STAGE", "AT RISK", "MRR", "CHANGES")
		for _, a := range res.Accounts {
			if !all && len(a.Changes) == 0 {
				continue
			}
			b, n := a.Before, a.After
			p.row(a.Name, shift(score(b), score(n)), shift(string(b.Band), string(n.Band)), shift(b.Stage, n.Stage),
				shift(yesNo(b.AtRisk), yesNo(n.AtRisk)), orDash(string(a.MRR)), orDash(strings.Join(a.Changes, ", ")))
		}
	}
	p.line("")
	if !res.Changed {
		p.line("No change.")
	} else {
		bands := make([]string, 0, 3)
		for _, b := range []csv1alpha1.Band{csv1alpha1.BandGreen, csv1alpha1.BandYellow, csv1alpha1.BandRed} {
			bands = append(bands, fmt.Sprintf("%s %d -> %d", b, res.Bands.Before.Of(b), res.Bands.After.Of(b)))
		}
		p.row("Bands:", strings.Join(bands, ", "))
		p.row("Changes:", fmt.Sprintf("%s, %s, %s", plural(res.BandChanges, "band"), plural(res.StageChanges, "stage"),
			plural(res.ScoreChanges, "score")))
		p.row("MRR in Red:", describeShift(res.Red))
		p.row("MRR at risk:", describeShift(res.AtRisk))
	}
	if len(res.Leaving) > 0 {
		p.row("Leaving:", strings.Join(res.Leaving, ", ")+" (another plan, or none, evaluates them)")
	}
	var notes []string
	for _, a := range res.Accounts {
		for _, n := range a.Notes {
			notes = append(notes, "  "+a.Name+": "+n)
		}
	}
	if len(notes) > 0 {
		p.line("")
		p.line("Notes:")
		for _, n := range notes {
			p.line("%s", n)
		}
	}
	return p.done()
}

// shift is "before -> after", or the value alone when it stays.
func shift(before, after string) string {
	before, after = orDash(before), orDash(after)
	if before == after {
		return after
	}
	return before + " -> " + after
}

// score is a state's score, "-" when not scored.
func score(s accountState) string {
	if s.Band == "" {
		return "-"
	}
	return strconv.Itoa(int(s.Score))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// plural writes n with its noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// describeShift says how the MRR of a set moves and who moves it.
func describeShift(s mrrShift) string {
	out := fmt.Sprintf("%s -> %s (entering %s", s.Before, s.After, s.Entering)
	if len(s.EnteringAccounts) > 0 {
		out += ": " + strings.Join(s.EnteringAccounts, ", ")
	}
	out += "; leaving " + string(s.Leaving)
	if len(s.LeavingAccounts) > 0 {
		out += ": " + strings.Join(s.LeavingAccounts, ", ")
	}
	return out + ")"
}

// gate is one --fail-on limit.
type gate struct {
	name  string
	limit *big.Rat
}

// gates are the --fail-on limits.
type gates []gate

// gateNames are the limits --fail-on knows, with the figure each reads.
var gateNames = map[string]func(*previewResult) *big.Rat{
	"band-changes":  func(r *previewResult) *big.Rat { return big.NewRat(int64(r.BandChanges), 1) },
	"stage-changes": func(r *previewResult) *big.Rat { return big.NewRat(int64(r.StageChanges), 1) },
	"red":           func(r *previewResult) *big.Rat { return big.NewRat(int64(len(r.Red.EnteringAccounts)), 1) },
	"at-risk-mrr":   func(r *previewResult) *big.Rat { return r.AtRisk.entering },
}

// parseFailOn parses "band-changes=10,at-risk-mrr=5000".
func parseFailOn(s string) (gates, error) {
	var out gates
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, known := gateNames[name]; !ok || !known {
			return nil, fmt.Errorf("--fail-on %q: want band-changes=N, stage-changes=N, red=N or at-risk-mrr=X", part)
		}
		limit, err := kpis.ParseDecimal(value)
		if err == nil && name != "at-risk-mrr" && !limit.IsInt() {
			err = errors.New("not a whole number")
		}
		if err != nil || limit.Sign() < 0 {
			return nil, fmt.Errorf("--fail-on %s: %q is not a limit", name, value)
		}
		out = append(out, gate{name: name, limit: limit})
	}
	return out, nil
}

// check returns the limits the preview exceeds.
func (gs gates) check(res *previewResult) []string {
	var out []string
	for _, g := range gs {
		if v := gateNames[g.name](res); v.Cmp(g.limit) > 0 {
			out = append(out, fmt.Sprintf("%s is %s, above %s", g.name, kpis.FormatDecimal(v, 2), kpis.FormatDecimal(g.limit, 2)))
		}
	}
	return out
}
