package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"text/template"

	"k8s.io/client-go/util/jsonpath"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/text"
)

// HTTP pulls one JSON document per account and picks each measure's value
// with a kubectl-style JSONPath: all the measures of one source share the
// document, so an interval costs one request per account.
type HTTP struct {
	// URL is the Go template of the document's URL.
	URL    string
	Client *http.Client
}

// Pull fetches every account's document once, with bounded concurrency,
// and reads every measure from it.
func (h *HTTP) Pull(ctx context.Context, measures []*csv1alpha1.Measure, targets []Target) map[string]map[string]Sample {
	out := make(map[string]map[string]Sample, len(measures))
	var valid []*csv1alpha1.Measure
	for _, m := range measures {
		if err := jsonpath.New(m.Name).Parse(m.JSONPath); err != nil {
			out[m.Name] = FailAll(targets, "jsonPath: "+err.Error())
			continue
		}
		valid = append(valid, m)
		out[m.Name] = make(map[string]Sample, len(targets))
	}
	if len(valid) == 0 {
		return out
	}
	tp, err := parseTarget(h.URL)
	if err != nil {
		for _, m := range valid {
			out[m.Name] = FailAll(targets, err.Error())
		}
		return out
	}
	docs := eachTarget(targets, func(t Target) document { return h.fetch(ctx, tp, t) })
	for _, m := range valid {
		// A parsed JSONPath keeps state while it runs: one per measure,
		// used by one goroutine.
		jp := jsonpath.New(m.Name)
		_ = jp.Parse(m.JSONPath)
		for name, d := range docs {
			if d.err != "" {
				out[m.Name][name] = Sample{Err: d.err}
				continue
			}
			out[m.Name][name] = pick(jp, d.doc)
		}
	}
	return out
}

// document is one account's decoded document, or why there is none.
type document struct {
	doc any
	err string
}

// fetch gets and decodes one account's document.
func (h *HTTP) fetch(ctx context.Context, url *template.Template, t Target) document {
	u, err := execute(url, t)
	if err != nil {
		return document{err: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return document{err: "bad URL"}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return document{err: outbound.Describe(err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		return document{err: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	var doc any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, outbound.ErrBodyTooLarge) {
			return document{err: outbound.ErrTextTooLarge}
		}
		return document{err: "response is not JSON"}
	}
	return document{doc: doc}
}

// pick reads one number from the document.
func pick(jp *jsonpath.JSONPath, doc any) Sample {
	results, err := jp.FindResults(doc)
	if err != nil {
		// Only "<field> is not found" names nothing but the path; other
		// errors quote the document.
		if msg := err.Error(); strings.HasSuffix(msg, " is not found") && !strings.ContainsAny(msg, "\"{[") {
			return Sample{Err: "jsonPath: " + text.Truncate(msg, 200)}
		}
		return Sample{Err: "jsonPath does not apply to the document"}
	}
	var found []reflect.Value
	for _, r := range results {
		found = append(found, r...)
	}
	if len(found) != 1 {
		return Sample{Err: fmt.Sprintf("jsonPath matched %d values, want 1", len(found))}
	}
	v := found[0]
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() || !v.CanInterface() {
		return Sample{Err: "jsonPath matched no number"}
	}
	switch x := v.Interface().(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return Sample{Err: "value is not a number"}
		}
		return finite(f)
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return Sample{Err: "value is not a number"}
		}
		return finite(f)
	case bool:
		if x {
			return Sample{Value: 1}
		}
		return Sample{Value: 0}
	default:
		return Sample{Err: "value is not a number"}
	}
}
