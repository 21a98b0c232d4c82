package sources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"golang.org/x/sync/errgroup"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/health"
)

// Target is an account as a source sees it.
type Target struct {
	// Name and Namespace of the CustomerAccount.
	Name, Namespace string
	// ExternalIDs are the account's spec.externalIDs.
	ExternalIDs map[string]string
}

// Key is how a source that answers for many accounts at once names the
// account: its externalIDs entry for the source, else its name.
func (t Target) Key(source string) string {
	if id := t.ExternalIDs[source]; id != "" {
		return id
	}
	return t.Name
}

// Sample is one pulled value, or why there is none. Err never holds a
// response body, a URL or a credential.
type Sample struct {
	Value float64
	Err   string
}

// Source pulls the measures of one plan source for a set of accounts. It
// returns, by measure name, a sample per account name, and makes as few
// requests as the source kind allows (one query per measure for all
// accounts, or one document per account for all measures). It never
// panics on bad data: every failure is a Sample.Err.
type Source interface {
	Pull(ctx context.Context, measures []*csv1alpha1.Measure, targets []Target) map[string]map[string]Sample
}

// FailAll returns the same error for every target.
func FailAll(targets []Target, msg string) map[string]Sample {
	out := make(map[string]Sample, len(targets))
	for _, t := range targets {
		out[t.Name] = Sample{Err: msg}
	}
	return out
}

// finite turns NaN and infinities (health.Finite) into an error.
func finite(v float64) Sample {
	if !health.Finite(v) {
		return Sample{Err: "value is not a finite number"}
	}
	return Sample{Value: v}
}

// ParseTemplate parses a URL or query template. Only text and field
// references ({{ .Name }}, {{ .Namespace }}, {{ .ExternalIDs.x }}) are
// allowed: no functions, pipelines, conditions or loops, so that
// expanding a template is linear in its size and cannot loop.
func ParseTemplate(name, text string) (*template.Template, error) {
	tp, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if tp.Tree == nil || tp.Root == nil {
		return tp, nil
	}
	for _, n := range tp.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			if !isFieldReference(n.Pipe) {
				return nil, fmt.Errorf("%q: only field references such as {{ .ExternalIDs.support }} are allowed", n.String())
			}
		default:
			return nil, fmt.Errorf("%q: only field references such as {{ .ExternalIDs.support }} are allowed", n.String())
		}
	}
	return tp, nil
}

// isFieldReference reports whether a pipeline is one field chain: .A.b
func isFieldReference(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	_, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	return ok
}

// expand parses a template and executes it over the target.
func expand(tmpl string, t Target) (string, error) {
	tp, err := parseTarget(tmpl)
	if err != nil {
		return "", err
	}
	return execute(tp, t)
}

// parseTarget parses a URL or query template once for all the targets of
// a pull, with its error in the words a Sample carries.
func parseTarget(tmpl string) (*template.Template, error) {
	tp, err := ParseTemplate("t", tmpl)
	if err != nil {
		return nil, errors.New("template: " + lastPart(err.Error()))
	}
	return tp, nil
}

// execute expands a parsed template over the target: {{ .Name }},
// {{ .Namespace }}, {{ .ExternalIDs.x }}. A missing key is an error.
func execute(tp *template.Template, t Target) (string, error) {
	var b strings.Builder
	if err := tp.Execute(&b, t); err != nil {
		return "", errors.New("template: " + lastPart(err.Error()))
	}
	return b.String(), nil
}

// lastPart keeps the part of a template error after its location prefix.
func lastPart(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// eachTarget runs pull for every target, at most limit at a time, and
// returns the results by account name.
func eachTarget[R any](targets []Target, limit int, pull func(Target) R) map[string]R {
	results := make([]R, len(targets))
	g := errgroup.Group{}
	g.SetLimit(limit)
	for i, t := range targets {
		g.Go(func() error {
			results[i] = pull(t)
			return nil
		})
	}
	_ = g.Wait()
	out := make(map[string]R, len(targets))
	for i, t := range targets {
		out[t.Name] = results[i]
	}
	return out
}
