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
// document, so an interval costs one request per account. With ItemsPath
// it is a bulk source: one document for all accounts, one request per
// interval.
type HTTP struct {
	// URL is the Go template of the document's URL; a plain URL for a bulk
	// source.
	URL string
	// ItemsPath selects the items of a bulk document, KeyPath the account
	// key in each item, matched against Target.Key(SourceName).
	ItemsPath, KeyPath, SourceName string
	Client                         *http.Client
	// Throttle paces the requests; nil bounds only their concurrency.
	Throttle *Throttle
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
	if h.ItemsPath != "" {
		h.pullBulk(ctx, valid, targets, out)
		return out
	}
	tp, err := parseTarget(h.URL)
	if err != nil {
		for _, m := range valid {
			out[m.Name] = FailAll(targets, err.Error())
		}
		return out
	}
	docs := eachTarget(targets, h.Throttle.limit(), func(t Target) document { return h.fetch(ctx, tp, t) })
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

// pullBulk fetches the one document of a bulk source, and reads each
// measure of each target from the target's item.
func (h *HTTP) pullBulk(ctx context.Context, valid []*csv1alpha1.Measure, targets []Target, out map[string]map[string]Sample) {
	d := h.get(ctx, h.URL)
	var items map[string]*item
	if d.err == "" {
		items, d.err = h.items(d.doc)
	}
	for _, m := range valid {
		if d.err != "" {
			out[m.Name] = FailAll(targets, d.err)
			continue
		}
		jp := jsonpath.New(m.Name)
		_ = jp.Parse(m.JSONPath)
		for _, t := range targets {
			key := t.Key(h.SourceName)
			switch it := items[key]; {
			case it == nil:
				out[m.Name][t.Name] = Sample{Err: fmt.Sprintf("no item with key %q", key)}
			case it.count > 1:
				out[m.Name][t.Name] = Sample{Err: fmt.Sprintf("%d items with key %q", it.count, key)}
			default:
				out[m.Name][t.Name] = pick(jp, it.doc)
			}
		}
	}
}

// item is a bulk document's item for one key, and how many items had it.
type item struct {
	doc   any
	count int
}

// items indexes a bulk document's items by key. itemsPath may select the
// items ({.accounts[*]}) or the list holding them ({.accounts}); an item
// without a key (or whose key is not a string or a number) belongs to no
// account.
func (h *HTTP) items(doc any) (map[string]*item, string) {
	ip, kp := jsonpath.New("itemsPath"), jsonpath.New("keyPath")
	if ip.Parse(h.ItemsPath) != nil || kp.Parse(h.KeyPath) != nil {
		return nil, "itemsPath or keyPath does not parse"
	}
	results, err := ip.FindResults(doc)
	if err != nil {
		return nil, "itemsPath does not apply to the document"
	}
	var found []any
	for _, r := range results {
		for _, v := range r {
			if !v.CanInterface() {
				continue
			}
			if list, ok := v.Interface().([]any); ok && len(results) == 1 && len(r) == 1 {
				found = append(found, list...)
				continue
			}
			found = append(found, v.Interface())
		}
	}
	out := make(map[string]*item, len(found))
	for _, doc := range found {
		key, ok := keyOf(kp, doc)
		if !ok {
			continue
		}
		if it := out[key]; it != nil {
			it.count++
			continue
		}
		out[key] = &item{doc: doc, count: 1}
	}
	return out, ""
}

// keyOf reads an item's key: one string or number.
func keyOf(kp *jsonpath.JSONPath, doc any) (string, bool) {
	results, err := kp.FindResults(doc)
	if err != nil || len(results) != 1 || len(results[0]) != 1 || !results[0][0].CanInterface() {
		return "", false
	}
	switch k := results[0][0].Interface().(type) {
	case string:
		return k, true
	case json.Number:
		return k.String(), true
	}
	return "", false
}

// fetch gets and decodes one account's document.
func (h *HTTP) fetch(ctx context.Context, url *template.Template, t Target) document {
	u, err := execute(url, t)
	if err != nil {
		return document{err: err.Error()}
	}
	return h.get(ctx, u)
}

// get fetches and decodes one document, at the throttle's pace, trying
// again (up to maxAttempts) when the server asks to wait.
func (h *HTTP) get(ctx context.Context, u string) document {
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		if err := h.Throttle.wait(ctx); err != nil {
			return document{err: outbound.Describe(err)}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return document{err: "bad URL"}
		}
		req.Header.Set("Accept", "application/json")
		if resp, err = h.Client.Do(req); err != nil {
			return document{err: outbound.Describe(err)}
		}
		if attempt == maxAttempts || !h.Throttle.backOff(resp, attempt) {
			break
		}
		drain(resp)
	}
	defer drain(resp)
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

// drain reads a little of a response's rest, so that its connection can
// be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
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
