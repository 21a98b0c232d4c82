package expr

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Kind is what an expression must produce.
type Kind int

const (
	// Condition expressions produce a bool: objectives, exitWhen, enterWhen,
	// signals.
	Condition Kind = iota
	// Number expressions produce a double: a measure's normalize.
	Number
)

// costLimit bounds the runtime cost of one evaluation. Plan expressions are
// small comparisons; the limit only stops pathological comprehensions.
const costLimit = 100_000

// Variables are the names an expression can read; Types declares what
// they hold. value is only bound in normalize expressions.
const (
	VarAccount  = "account"
	VarMeasures = "measures"
	VarHealth   = "health"
	VarStage    = "stage"
	VarValue    = "value"
)

// Compiler compiles plan expressions. It is safe for concurrent use.
type Compiler struct {
	conditions *cel.Env
	numbers    *cel.Env
}

// NewCompiler builds the two CEL environments of plan expressions. The
// variables are declared with their field types (see Types), so that a
// type error such as double / int, an unknown field or a wrong result
// type is found when the plan is compiled, not when an account is
// evaluated. At run time the variables are plain maps built by Vars.
func NewCompiler() (*Compiler, error) {
	t := Types()
	provider := apiservercel.NewDeclTypeProvider(t.Account, t.Measure, t.Health, t.Stage)
	typeOpts, err := provider.EnvOptions(types.NewEmptyRegistry())
	if err != nil {
		return nil, err
	}
	common := slices.Concat(typeOpts, []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.Variable(VarAccount, t.Account.CelType()),
	})
	conditions, err := cel.NewEnv(slices.Concat(common, []cel.EnvOption{
		cel.Variable(VarMeasures, cel.MapType(cel.StringType, t.Measure.CelType())),
		cel.Variable(VarHealth, t.Health.CelType()),
		cel.Variable(VarStage, t.Stage.CelType()),
	})...)
	if err != nil {
		return nil, err
	}
	numbers, err := cel.NewEnv(slices.Concat(common, []cel.EnvOption{cel.Variable(VarValue, cel.DoubleType)})...)
	if err != nil {
		return nil, err
	}
	return &Compiler{conditions: conditions, numbers: numbers}, nil
}

// Declared are the object types of the expression variables.
type Declared struct {
	// Account is the account variable: its spec fields, signals and the
	// values derived from its ledger and dates.
	Account *apiservercel.DeclType
	// Measure is one entry of the measures map.
	Measure *apiservercel.DeclType
	// Health and Stage are the health and stage variables.
	Health, Stage *apiservercel.DeclType
}

// Types returns the declared types of the variables. account.contacts is
// the list of spec.contacts, each with name, email, role and persona (empty
// when unset). Fields that may be absent at run time (daysToRenewal without a renewal date, a measure's
// value while it is not available, health.score before the first score) are
// declared too: reading an absent one fails the evaluation, has() tests it.
func Types() Declared {
	str, i, dbl, b := apiservercel.StringType, apiservercel.IntType, apiservercel.DoubleType, apiservercel.BoolType
	object := func(name string, fields map[string]*apiservercel.DeclType) *apiservercel.DeclType {
		decl := make(map[string]*apiservercel.DeclField, len(fields))
		for n, t := range fields {
			decl[n] = apiservercel.NewDeclField(n, t, false, nil, nil)
		}
		return apiservercel.NewObjectType(name, decl)
	}
	stringMap := apiservercel.NewMapType(str, str, -1)
	contract := object("customersuccess.dev.Contract", map[string]*apiservercel.DeclType{
		"tier": str, "seats": i, "currency": str, "startDate": str, "renewalDate": str, "acquisitionCost": dbl,
	})
	signals := object("customersuccess.dev.Signals", map[string]*apiservercel.DeclType{
		"values": apiservercel.NewMapType(str, dbl, -1),
	})
	// The API bounds an account's contacts to 50, which bounds the cost of
	// a comprehension over them.
	contact := object("customersuccess.dev.Contact", map[string]*apiservercel.DeclType{
		"name": str, "email": str, "role": str, "persona": str,
	})
	return Declared{
		Account: object("customersuccess.dev.Account", map[string]*apiservercel.DeclType{
			"name": str, "namespace": str, "labels": stringMap, "displayName": str, "owner": str,
			"externalIDs": stringMap, "contract": contract, "signals": signals,
			"mrr": dbl, "daysSinceStart": i, "daysToRenewal": i,
			"contacts": apiservercel.NewListType(contact, maxContacts),
		}),
		Measure: object("customersuccess.dev.Measure", map[string]*apiservercel.DeclType{
			"value": dbl, "score": i, "available": b,
		}),
		Health: object("customersuccess.dev.Health", map[string]*apiservercel.DeclType{
			"scored": b, "score": i, "band": str,
		}),
		Stage: object("customersuccess.dev.Stage", map[string]*apiservercel.DeclType{
			"name": str, "days": i,
		}),
	}
}

// maxContacts is the API's bound on an account's contacts.
const maxContacts = 50

// Program is a compiled, type-checked expression.
type Program struct {
	source string
	kind   Kind
	prg    cel.Program
	// tracked: the evaluation counts its cost against costLimit (see
	// boundedBelowLimit).
	tracked bool
	// calendar is what the expression reads of the time-derived variables.
	calendar Calendar
}

// Source returns the expression text.
func (p *Program) Source() string { return p.source }

// Calendar returns the time-derived variables the expression reads (see
// calendarReads); none for a nil program.
func (p *Program) Calendar() Calendar {
	if p == nil {
		return 0
	}
	return p.calendar
}

// Compile parses and type-checks src as an expression of the given kind.
// measures, when not nil, are the plan's measure names: a reference to
// measures.<name> outside it is an error.
func (c *Compiler) Compile(src string, kind Kind, measures map[string]bool) (*Program, error) {
	env, want := c.conditions, cel.BoolType
	if kind == Number {
		env, want = c.numbers, cel.DoubleType
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, errors.New(strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	out := checked.OutputType()
	if !out.IsExactType(want) && (kind != Number || !out.IsExactType(cel.IntType)) {
		return nil, fmt.Errorf("must produce %s, not %s", want, out)
	}
	if measures != nil {
		if unknown := unknownMeasures(checked.NativeRep(), measures); len(unknown) > 0 {
			return nil, fmt.Errorf("unknown measure %s", strings.Join(unknown, ", "))
		}
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	tracked := !boundedBelowLimit(env, checked)
	if tracked {
		opts = append(opts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(checked, opts...)
	if err != nil {
		return nil, err
	}
	return &Program{source: src, kind: kind, prg: prg, tracked: tracked, calendar: calendarReads(checked.NativeRep())}, nil
}

// boundedBelowLimit reports whether the checked expression's estimated
// worst-case cost is within costLimit. The estimate is an upper bound of
// the cost an evaluation counts, with every size CEL cannot see (a list,
// map or string of the account) taken as unbounded: such an expression
// is kept under the runtime limit, while a fixed one (comparisons of
// fields, the common case) is evaluated without counting its cost, which
// would add work and allocations to every evaluation for nothing.
func boundedBelowLimit(env *cel.Env, checked *cel.Ast) bool {
	est, err := env.EstimateCost(checked, unknownSizes{})
	return err == nil && est.Max <= costLimit
}

// unknownSizes is a cost estimator that knows no size: the estimate takes
// the worst case for each.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// unknownMeasures lists the measures.<name> selections whose name is not a
// plan measure.
func unknownMeasures(a *celast.AST, measures map[string]bool) []string {
	seen := map[string]bool{}
	celast.PreOrderVisit(celast.NavigateAST(a), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() == celast.IdentKind && op.AsIdent() == VarMeasures && !measures[sel.FieldName()] {
			seen[sel.FieldName()] = true
		}
	}))
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, fmt.Sprintf("%q", name))
	}
	sort.Strings(out)
	return out
}

// EvalBool evaluates a Condition program.
func (p *Program) EvalBool(vars map[string]any) (bool, error) {
	v, _, err := p.prg.Eval(vars)
	if err != nil {
		return false, redact(err, vars)
	}
	b, ok := v.Value().(bool)
	if !ok || v.Type() != types.BoolType {
		return false, fmt.Errorf("produced %s, not bool", v.Type().TypeName())
	}
	return b, nil
}

// EvalNumber evaluates a Number program.
func (p *Program) EvalNumber(vars map[string]any) (float64, error) {
	v, _, err := p.prg.Eval(vars)
	if err != nil {
		return 0, redact(err, vars)
	}
	switch n := v.Value().(type) {
	case float64:
		return n, nil
	case int64:
		return float64(n), nil
	default:
		return 0, fmt.Errorf("produced %s, not double", v.Type().TypeName())
	}
}

// redacted replaces personal data in an evaluation error.
const redacted = "<redacted>"

// redact removes the contacts' names and emails from an evaluation error:
// an error can quote a value (int(c.email) quotes the address it could
// not parse), and errors end up in conditions, Events and logs, where
// personal data must not. Values shorter than three characters are left:
// they would garble the message and identify no one.
func redact(err error, vars map[string]any) error {
	acct, _ := vars[VarAccount].(map[string]any)
	contacts, _ := acct["contacts"].([]any)
	var secrets []string
	for _, c := range contacts {
		m, _ := c.(map[string]any)
		for _, f := range []string{"email", "name"} {
			if v, _ := m[f].(string); len(v) >= 3 {
				secrets = append(secrets, v)
			}
		}
	}
	if len(secrets) == 0 {
		return err
	}
	// Longest first, so that a name inside an address does not leave the
	// rest of the address behind.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	msg := err.Error()
	for _, v := range secrets {
		msg = strings.ReplaceAll(msg, v, redacted)
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// Expressions are a plan's compiled expressions, keyed by field path.
type Expressions struct {
	// Normalize holds each measure's normalize program, by measure name.
	Normalize map[string]*Program
	// ObjectiveWhen holds objective conditions by stage, then objective name.
	ObjectiveWhen map[string]map[string]*Program
	// ExitWhen and EnterWhen hold the stage conditions by stage name.
	ExitWhen, EnterWhen map[string]*Program
	// AtRisk and Expansion are the plan's signals; nil when unset.
	AtRisk, Expansion *Program

	// Calendar is what the expressions evaluated in every stage (the
	// signals and the measures' normalize) read of the time-derived
	// variables.
	Calendar Calendar
	// StageCalendar is, by stage name, what the stage machine reads of the
	// time-derived variables while an account is in that stage: the
	// stage's objectives and exitWhen (the last stage's exitWhen is never
	// evaluated) and the enterWhen of every later stage.
	StageCalendar map[string]Calendar
}

// CalendarIn returns the time-derived variables the plan's expressions
// read for an account in stage: Calendar, and the stage's StageCalendar.
// A stage the plan does not have (Churned, or none) adds nothing: the
// stage machine evaluates no expression for such an account.
func (x *Expressions) CalendarIn(stage string) Calendar {
	return x.Calendar | x.StageCalendar[stage]
}

// CompilePlan compiles every expression of a plan. It returns what compiled
// and one error per expression that did not, in field order.
func (c *Compiler) CompilePlan(spec *csv1alpha1.SuccessPlanSpec) (*Expressions, field.ErrorList) {
	measures := make(map[string]bool, len(spec.Measures))
	for _, m := range spec.Measures {
		measures[m.Name] = true
	}
	x := &Expressions{
		Normalize:     map[string]*Program{},
		ObjectiveWhen: map[string]map[string]*Program{},
		ExitWhen:      map[string]*Program{},
		EnterWhen:     map[string]*Program{},
	}
	var errs field.ErrorList
	compile := func(path *field.Path, src string, kind Kind) *Program {
		if src == "" {
			return nil
		}
		p, err := c.Compile(src, kind, measures)
		if err != nil {
			errs = append(errs, field.Invalid(path, src, err.Error()))
		}
		return p
	}
	spath := field.NewPath("spec")
	for i, m := range spec.Measures {
		if p := compile(spath.Child("measures").Index(i).Child("normalize"), m.Normalize, Number); p != nil {
			x.Normalize[m.Name] = p
		}
	}
	for i, s := range spec.Stages {
		for j, o := range s.Objectives {
			if p := compile(spath.Child("stages").Index(i).Child("objectives").Index(j).Child("when"), o.When, Condition); p != nil {
				if x.ObjectiveWhen[s.Name] == nil {
					x.ObjectiveWhen[s.Name] = map[string]*Program{}
				}
				x.ObjectiveWhen[s.Name][o.Name] = p
			}
		}
		if p := compile(spath.Child("stages").Index(i).Child("exitWhen"), s.ExitWhen, Condition); p != nil {
			x.ExitWhen[s.Name] = p
		}
		if p := compile(spath.Child("stages").Index(i).Child("enterWhen"), s.EnterWhen, Condition); p != nil {
			x.EnterWhen[s.Name] = p
		}
	}
	x.AtRisk = compile(spath.Child("signals", "atRisk"), spec.Signals.AtRisk, Condition)
	x.Expansion = compile(spath.Child("signals", "expansion"), spec.Signals.Expansion, Condition)
	x.calendar(spec.Stages)
	return x, errs
}

// calendar fills Calendar and StageCalendar from the compiled programs.
func (x *Expressions) calendar(stages []csv1alpha1.Stage) {
	x.Calendar = x.AtRisk.Calendar() | x.Expansion.Calendar()
	for _, p := range x.Normalize {
		x.Calendar |= p.Calendar()
	}
	x.StageCalendar = make(map[string]Calendar, len(stages))
	for i, s := range stages {
		var c Calendar
		for _, p := range x.ObjectiveWhen[s.Name] {
			c |= p.Calendar()
		}
		if i+1 < len(stages) {
			c |= x.ExitWhen[s.Name].Calendar()
		}
		for _, later := range stages[i+1:] {
			c |= x.EnterWhen[later.Name].Calendar()
		}
		x.StageCalendar[s.Name] |= c
	}
}
