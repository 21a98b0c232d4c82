package sources

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"text/template"

	"golang.org/x/sync/errgroup"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// Target is an account as a source sees it.
type Target struct {
	// Name and Namespace of the CustomerAccount.
	Name, Namespace string
	// ExternalIDs are the account's spec.externalIDs.
	ExternalIDs map[string]string
}

// Sample is one pulled value, or why there is none. Err never holds a
// response body, a URL or a credential.
type Sample struct {
	Value float64
	Err   string
}

// Source pulls one measure for a set of accounts and returns a sample per
// account name. It never panics on bad data: every failure is a Sample.Err.
type Source interface {
	Pull(ctx context.Context, m *csv1alpha1.Measure, targets []Target) map[string]Sample
}

// FailAll returns the same error for every target.
func FailAll(targets []Target, msg string) map[string]Sample {
	out := make(map[string]Sample, len(targets))
	for _, t := range targets {
		out[t.Name] = Sample{Err: msg}
	}
	return out
}

// finite turns NaN and infinities into an error.
func finite(v float64) Sample {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Sample{Err: "value is not a finite number"}
	}
	return Sample{Value: v}
}

// expand executes a Go template over the target: {{ .Name }},
// {{ .Namespace }}, {{ .ExternalIDs.x }}. A missing key is an error.
func expand(tmpl string, t Target) (string, error) {
	tp, err := template.New("t").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", err
	}
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

// Describe turns a transport error into a message without URL or body:
// url.Error embeds the full URL, which may carry identifiers or tokens.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "request timed out"
		}
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "request timed out"
	}
	return fmt.Sprint(err)
}

// eachTarget runs pull for every target, at most Concurrency at a time, and
// returns the samples by account name.
func eachTarget(targets []Target, pull func(Target) Sample) map[string]Sample {
	results := make([]Sample, len(targets))
	g := errgroup.Group{}
	g.SetLimit(Concurrency)
	for i, t := range targets {
		g.Go(func() error {
			results[i] = pull(t)
			return nil
		})
	}
	_ = g.Wait()
	out := make(map[string]Sample, len(targets))
	for i, t := range targets {
		out[t.Name] = results[i]
	}
	return out
}
