package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/fuzztest"
	"customersuccess.dev/success-operator/internal/outbound"
)

// docStrings collects the keys and string values of a decoded JSON
// document that are at least 8 bytes long: text only the response has.
func docStrings(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if len(k) >= 8 {
				out[k] = true
			}
			docStrings(e, out)
		}
	case []any:
		for _, e := range x {
			docStrings(e, out)
		}
	case string:
		if len(x) >= 8 {
			out[x] = true
		}
	}
}

// FuzzPick reads a number from an arbitrary JSON document with an arbitrary
// JSONPath, as the http source does: no panic, no hang, a finite value or
// an error, and no text of the document in the error (Sample.Err and
// status.health.measures[].error never hold a response body).
func FuzzPick(f *testing.F) {
	// The documents and path of TestHTTPSource and
	// TestHTTPMeasuresShareOneDocumentPerAccount, and paths of the README.
	for _, seed := range []struct{ doc, path string }{
		{`{"open": 12}`, "{.open}"},
		{`{"open": "7"}`, "{.open}"},
		{`{"open": "many"}`, "{.open}"},
		{`{"open": "NaN"}`, "{.open}"},
		{`{"closed": 3}`, "{.open}"},
		{`{"open": 1, "pad": "xxxxxxxxxxxxxxxx"}`, "{.open}"},
		{`{"open": 4, "csat": {"score": 81.5}}`, "{.csat.score}"},
		{`{"open": 4, "csat": {"score": 81.5}}`, "{.open"},
		{`{"open": true}`, "{.open}"},
		{`{"open": null}`, "{.open}"},
		{`{"open": 1e400}`, "{.open}"},
		{`{"open": -0.5e-3}`, "{$.open}"},
		{`{"items": [{"name": "a", "open": 2}, {"name": "b", "open": 3}]}`, `{.items[?(@.name=="b")].open}`},
		{`{"items": [{"open": 2}, {"open": 3}]}`, "{.items[*].open}"},
		{`{"items": [{"open": 2}, {"open": 3}]}`, "{.items[-1:].open}"},
		{`{"items": [{"open": 2}, {"open": 3}]}`, "{.items[0:2:0].open}"},
		{`{"items": [{"open": 2}, {"open": 3}]}`, "{..open}"},
		{`{"a": {"b": {"c": [1, [2, [3]]]}}}`, "{.a.b.c[1][1][0]}"},
		{`{"usage": {"seats-active": "31"}}`, "{.usage['seats-active']}"},
		{`{"usage": {"seats.active": 31}}`, `{.usage.seats\.active}`},
		{`[1, 2, 3]`, "{[1]}"},
		{`[1, 2, 3]`, "{range .[*]}{@}{end}"},
		{`"just a string"`, "{@}"},
		{`{"open": 1}`, "{.open} and {.open}"},
		{`{"open": 1}`, "plain text"},
	} {
		f.Add([]byte(seed.doc), seed.path)
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		jp := jsonpath.New("m")
		if err := jp.Parse(path); err != nil {
			return // the plan is refused; ValidatePlan and Pull say why
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return // "response is not JSON"
		}
		var s Sample
		fuzztest.Within(t, "pick", func() { s = pick(jp, doc) })
		if s.Err == "" && (math.IsNaN(s.Value) || math.IsInf(s.Value, 0)) {
			t.Fatalf("pick(%q) = %v without an error", path, s.Value)
		}
		if s.Err != "" && s.Value != 0 {
			t.Fatalf("pick(%q) = %+v: a value with an error", path, s)
		}
		texts := map[string]bool{}
		docStrings(doc, texts)
		for text := range texts {
			if strings.Contains(s.Err, text) && !strings.Contains(path, text) {
				t.Fatalf("pick(%q) error %q holds the document's text %q", path, s.Err, text)
			}
		}
	})
}

// FuzzExpand executes arbitrary URL and query templates over arbitrary
// targets: no panic, no hang, text without actions kept as is, and nothing
// expands that ValidatePlan would have refused.
func FuzzExpand(f *testing.F) {
	// The templates of TestHTTPSource, TestPrometheusAgainstARealServer,
	// the README and config/demo, and the failures they document.
	for _, tmpl := range []string{
		"http://support.example/accounts/{{ .ExternalIDs.support }}/stats",
		`sum(active_users_7d{account="{{ .Name }}"}) * 2`,
		`sum(tickets{namespace="{{ .Namespace }}", account="{{ index .ExternalIDs "crm" }}"})`,
		"http://127.0.0.1:8080/accounts/{{ .Name }}/usage",
		"no action at all",
		"{{ .ExternalIDs.missing }}",
		"{{ .Nope }}",
		"{{ .Name",
		"{{ range .ExternalIDs }}{{ . }},{{ end }}",
		`{{ printf "%s-%s" .Namespace .Name | urlquery }}`,
		`{{ if eq .Name "acme" }}a{{ else }}b{{ end }}`,
		"{{/* a comment */}}x",
		"{{ len .ExternalIDs }}",
		`{{ slice .Name 1 }}`,
		"{{ define \"x\" }}{{ .Name }}{{ end }}{{ template \"x\" . }}",
		"{{ range 3 }}{{ . }}{{ end }}",
	} {
		f.Add(tmpl, "acme", "team-a", "support", "4711")
	}
	f.Add("{{ .ExternalIDs.support }}", "", "", "", "")
	f.Add("{{ .Name }}", "a\x00b", "ns", "k", "v")
	f.Fuzz(func(t *testing.T, tmpl, name, namespace, key, value string) {
		target := Target{Name: name, Namespace: namespace, ExternalIDs: map[string]string{key: value}}
		var out string
		var err error
		fuzztest.Within(t, "expand", func() { out, err = expand(tmpl, target) })
		if err != nil {
			if out != "" || !strings.HasPrefix(err.Error(), "template: ") {
				t.Fatalf("expand(%q) = %q, %v", tmpl, out, err)
			}
		} else if !strings.Contains(tmpl, "{{") && out != tmpl {
			t.Fatalf("expand(%q) = %q, want the text as is", tmpl, out)
		}
		spec := &csv1alpha1.SuccessPlanSpec{Sources: []csv1alpha1.Source{{Name: "s", HTTP: &csv1alpha1.HTTPSource{URL: tmpl}}}}
		if errs := ValidatePlan(spec); err == nil && len(errs) > 0 {
			t.Fatalf("expand(%q) works but ValidatePlan refuses it: %v", tmpl, errs)
		}
	})
}

// FuzzValidatePlan validates plans of arbitrary sources and measures: no
// panic, every error names an existing source or measure, at most one
// error per source and per measure, measures of unknown sources reported
// as not found, and JSONPaths judged as the http source parses them.
func FuzzValidatePlan(f *testing.F) {
	// layout: the number of sources, their kinds, then the number of
	// measures and each measure's source (past the sources: unknown).
	// The strings: the design plan's URL, query, JSONPath and key.
	f.Add([]byte{3, 0, 1, 2, 3, 0, 1, 2}, "http://support.example/accounts/{{ .ExternalIDs.support }}/stats",
		`sum(active_users_7d{account="{{ .Name }}"})`, "{.open}", "nps")
	f.Add([]byte{2, 0, 1, 4, 0, 1, 2, 3}, "{{ .Name", "max by (account) (active_users_7d)", "{.open", "")
	f.Add([]byte{1, 1, 2, 0, 0}, "http://x/{{ range 3 }}{{ end }}", "", "", "")
	f.Add([]byte{3, 2, 2, 2, 1, 1}, "", "{{ .Name }", "{.items[?(@.name==\"b\")].open}", "csat")
	f.Add([]byte{0, 1, 9}, "", "up", "{..open}", "ces")
	f.Add([]byte{}, "", "", "", "")
	f.Fuzz(func(t *testing.T, layout []byte, url, query, jsonPath, key string) {
		b := fuzzLayout(layout)
		spec := &csv1alpha1.SuccessPlanSpec{}
		for i := range int(b.next() % 4) {
			s := csv1alpha1.Source{Name: fmt.Sprintf("s%d", i)}
			switch b.next() % 4 {
			case 0:
				s.Prometheus = &csv1alpha1.PrometheusSource{URL: url}
			case 1:
				s.HTTP = &csv1alpha1.HTTPSource{URL: url}
			case 2:
				s.Static = &csv1alpha1.StaticSource{}
			}
			spec.Sources = append(spec.Sources, s)
		}
		for i := range int(b.next() % 5) {
			spec.Measures = append(spec.Measures, csv1alpha1.Measure{Name: fmt.Sprintf("m%d", i),
				Source: fmt.Sprintf("s%d", b.next()%5), Query: query, JSONPath: jsonPath, Key: key})
		}
		var errs []string
		fuzztest.Within(t, "ValidatePlan", func() {
			for _, e := range ValidatePlan(spec) {
				errs = append(errs, fmt.Sprintf("%s|%s", e.Type, e.Field))
			}
		})
		seen := map[string]bool{}
		for _, e := range errs {
			typ, path, _ := strings.Cut(e, "|")
			var kind string
			var i int
			switch {
			case strings.HasPrefix(path, "spec.sources["):
				kind = "source"
				_, _ = fmt.Sscanf(path, "spec.sources[%d]", &i)
				if i >= len(spec.Sources) || spec.Sources[i].HTTP == nil {
					t.Fatalf("error %s names no http source of %+v", e, spec.Sources)
				}
			case strings.HasPrefix(path, "spec.measures["):
				kind = "measure"
				_, _ = fmt.Sscanf(path, "spec.measures[%d]", &i)
				if i >= len(spec.Measures) {
					t.Fatalf("error %s names no measure", e)
				}
				known := false
				for _, s := range spec.Sources {
					known = known || s.Name == spec.Measures[i].Source
				}
				if !known && typ != field.ErrorTypeNotFound.String() {
					t.Fatalf("error %s for a measure of an unknown source", e)
				}
			default:
				t.Fatalf("error %s names no plan field", e)
			}
			if k := fmt.Sprintf("%s %d", kind, i); seen[k] {
				t.Fatalf("two errors for %s: %v", k, errs)
			} else {
				seen[k] = true
			}
		}
		jsonPathOK := jsonpath.New("m").Parse(jsonPath) == nil
		for i, m := range spec.Measures {
			for _, s := range spec.Sources {
				if s.Name == m.Source && s.HTTP != nil && jsonPath != "" && jsonPathOK == seen[fmt.Sprintf("measure %d", i)] {
					t.Fatalf("measure %d: jsonPath %q parses %v, errors %v", i, jsonPath, jsonPathOK, errs)
				}
			}
		}
	})
}

// fuzzLayout hands out the layout bytes; zeros once they run out.
type fuzzLayout []byte

func (b *fuzzLayout) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

// promAnswer is what the fake Prometheus answers next.
type promAnswer struct {
	status int
	body   []byte
}

// FuzzPrometheusQuery decodes arbitrary Prometheus API answers (status code
// and body) through the source's query, the smallest function that decodes
// them: no panic, no hang, an error that is short and free of the URL, or
// series whose samples are finite values or errors.
func FuzzPrometheusQuery(f *testing.F) {
	var answer atomic.Pointer[promAnswer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a := answer.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(outbound.Options{Timeout: fuzztest.Deadline / 2}))
	if err != nil {
		f.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")

	// The answers of TestPrometheusGarbageAndOutages and of a real
	// Prometheus (TestPrometheusAgainstARealServer).
	for _, seed := range []struct {
		status uint8
		body   string
	}{
		{0, "secret internals, not json"},
		{5, "secret internals"},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"account":"acme"},"value":[1,"NaN"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"account":"acme-prod","region":"eu"},"value":[1767225600.123,"31"]},{"metric":{"account":"globex","region":"eu"},"value":[1767225600.123,"12.5"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"scalar","result":[1767225600,"25"]}}`},
		{0, `{"status":"success","data":{"resultType":"string","result":[1767225600,"x"]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}`},
		{1, `{"status":"error","errorType":"bad_data","error":"1:20: parse error: unclosed left parenthesis"}`},
		{2, `{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}`},
		{3, "unauthorized\n"},
		{4, `{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w"],"infos":["i"]}`},
		{6, ""},
		{7, `{"status":"error","errorType":"timeout","error":"query timed out"}`},
		// Decoded as a stream: the result before its type, a native
		// histogram, a series without its value.
		{0, `{"data":{"result":[{"metric":{"account":"acme"},"value":[1,"2"]}],"resultType":"vector"},"status":"success"}`},
		{0, `{"data":{"result":[1,"3"],"resultType":"scalar"},"status":"success"}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"account":"acme"},"histogram":[1,{"count":"2","sum":"3"}]}]}}`},
		{0, `{"status":"success","data":{"result":[{"metric":{"account":"acme"},"values":[[1,"2"]]}],"resultType":"matrix"}}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	statuses := []int{http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusUnauthorized,
		http.StatusNotFound, http.StatusBadGateway, http.StatusNoContent, http.StatusServiceUnavailable}
	f.Fuzz(func(t *testing.T, status uint8, body []byte) {
		answer.Store(&promAnswer{status: statuses[int(status)%len(statuses)], body: body})
		var samples []Sample
		var qerr error
		fuzztest.Within(t, "query", func() {
			qerr = src.query(context.Background(), "up", func(_ string, s Sample) {
				samples = append(samples, s)
			})
		})
		if qerr != nil {
			msg := qerr.Error()
			if strings.Contains(msg, host) || strings.Contains(msg, "://") {
				t.Fatalf("error %q holds the URL", msg)
			}
			// At most 200 bytes of Prometheus's own message, behind a
			// short prefix: a status message, an Event, never a body.
			if len(msg) > 300 {
				t.Fatalf("error of %d bytes: %.400q", len(msg), msg)
			}
			return
		}
		for _, s := range samples {
			if s.Err == "" && (math.IsNaN(s.Value) || math.IsInf(s.Value, 0)) {
				t.Fatalf("sample %+v without an error", s)
			}
			if s.Err != "" && s.Value != 0 {
				t.Fatalf("sample %+v: a value with an error", s)
			}
		}
	})
}
