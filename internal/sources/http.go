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

	"k8s.io/client-go/util/jsonpath"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// HTTP pulls one JSON document per account and picks the measure's value
// with a kubectl-style JSONPath.
type HTTP struct {
	// URL is the Go template of the document's URL.
	URL    string
	Client *http.Client
}

// Pull fetches every account's document with bounded concurrency.
func (h *HTTP) Pull(ctx context.Context, m *csv1alpha1.Measure, targets []Target) map[string]Sample {
	if err := jsonpath.New(m.Name).Parse(m.JSONPath); err != nil {
		return FailAll(targets, "jsonPath: "+err.Error())
	}
	return eachTarget(targets, func(t Target) Sample {
		// A parsed JSONPath keeps state while it runs: one per request.
		jp := jsonpath.New(m.Name)
		_ = jp.Parse(m.JSONPath)
		return h.pullOne(ctx, jp, t)
	})
}

// pullOne fetches and reads one account's document.
func (h *HTTP) pullOne(ctx context.Context, jp *jsonpath.JSONPath, t Target) Sample {
	u, err := expand(h.URL, t)
	if err != nil {
		return Sample{Err: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Sample{Err: "bad URL"}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return Sample{Err: Describe(err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		return Sample{Err: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	var doc any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return Sample{Err: ErrBodyTooLarge.Error()}
		}
		return Sample{Err: "response is not JSON"}
	}
	return pick(jp, doc)
}

// pick reads one number from the document.
func pick(jp *jsonpath.JSONPath, doc any) Sample {
	results, err := jp.FindResults(doc)
	if err != nil {
		return Sample{Err: "jsonPath: " + err.Error()}
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
