package sources

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
)

// visited is one series as the decoder hands it on.
type visited struct {
	ID string
	Sample
}

// vector wraps series in a success answer of type vector.
func vector(series ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

// TestPrometheusAnswer decodes answers of the query API as a stream: the
// series handed on, or the error a Sample carries.
func TestPrometheusAnswer(t *testing.T) {
	const acme = `{"metric":{"account":"acme","region":"eu"},"value":[1767225600.123,"31"]}`
	const globex = `{"metric":{"account":"globex"},"value":[1767225600.123,"12.5"]}`
	bigLabel := strings.Repeat("x", maxValueBytes+1)
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		maxSeries int
		want      []visited
		err       string
	}{
		{name: "a vector hands on each series with its account label",
			body: vector(acme, globex), want: []visited{{"acme", Sample{Value: 31}}, {"globex", Sample{Value: 12.5}}}},
		{name: "an empty vector hands on nothing", body: vector()},
		{name: "a null result is an empty vector",
			body: `{"status":"success","data":{"resultType":"vector","result":null}}`},
		{name: "a series without the account label has an empty id",
			body: vector(`{"metric":{"instance":"a"},"value":[1,"4"]}`), want: []visited{{"", Sample{Value: 4}}}},
		{name: "a series without labels has an empty id",
			body: vector(`{"value":[1,"4"]}`), want: []visited{{"", Sample{Value: 4}}}},
		{name: "two series of one account are both handed on",
			body: vector(acme, acme), want: []visited{{"acme", Sample{Value: 31}}, {"acme", Sample{Value: 31}}}},
		{name: "NaN and infinities are errors of their series",
			body: vector(`{"metric":{"account":"a"},"value":[1,"NaN"]}`, `{"metric":{"account":"b"},"value":[1,"+Inf"]}`,
				`{"metric":{"account":"c"},"value":[1,"-Inf"]}`, globex),
			want: []visited{{"a", Sample{Err: "value is not a finite number"}}, {"b", Sample{Err: "value is not a finite number"}},
				{"c", Sample{Err: "value is not a finite number"}}, {"globex", Sample{Value: 12.5}}}},
		{name: "a native histogram is an error of its series",
			body: vector(`{"metric":{"account":"a"},"histogram":[1,{"count":"2","sum":"3","buckets":[[0,"0","1","2"]]}]}`),
			want: []visited{{"a", Sample{Err: "series is a native histogram, not a number"}}}},
		{name: "a scalar is one series without labels",
			body: `{"status":"success","data":{"resultType":"scalar","result":[1767225600,"25"]}}`, want: []visited{{"", Sample{Value: 25}}}},
		{name: "keys may come in any order: result before its type, status last",
			body: `{"data":{"result":[` + acme + `],"resultType":"vector"},"status":"success"}`, want: []visited{{"acme", Sample{Value: 31}}}},
		{name: "a scalar may come before its type",
			body: `{"data":{"result":[1,"2"],"resultType":"scalar"},"status":"success"}`, want: []visited{{"", Sample{Value: 2}}}},
		{name: "whitespace, warnings, infos and unknown keys are skipped",
			body: " {\n \"status\" : \"success\", \"warnings\": [\"w\", {\"x\": [1]}], \"infos\": [\"i\"],\n \"data\" : { \"extra\": {\"a\": [1, 2]},\n" +
				" \"resultType\" : \"vector\" , \"result\" : [ \n " + acme + " ] } }\n",
			want: []visited{{"acme", Sample{Value: 31}}}},
		{name: "a string label value needs no escaping to match",
			body: vector(`{"metric":{"account":"caf\u00e9 \"x\""},"value":[1,"1"]}`), want: []visited{{`café "x"`, Sample{Value: 1}}}},

		{name: "a matrix is the wrong type",
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]]}]}}`,
			err:  "query returned a matrix, want a vector"},
		{name: "a matrix whose type comes last is the wrong type",
			body: `{"status":"success","data":{"result":[{"metric":{},"values":[[1,"2"]]}],"resultType":"matrix"}}`,
			err:  "query returned a matrix, want a vector"},
		{name: "a string is the wrong type",
			body: `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, err: "query returned a string, want a vector"},
		{name: "an unknown result type is a bad response",
			body: `{"status":"success","data":{"resultType":"table","result":[]}}`, err: "query failed: bad response"},
		{name: "a result without its type is a bad response",
			body: `{"status":"success","data":{"result":[` + acme + `]}}`, err: "query failed: bad response"},
		{name: "a vector of pairs is a bad response",
			body: `{"status":"success","data":{"resultType":"vector","result":[1,"2"]}}`, err: "query failed: bad response"},
		{name: "a scalar of series is a bad response",
			body: `{"status":"success","data":{"resultType":"scalar","result":[` + acme + `]}}`, err: "query failed: bad response"},
		{name: "a series without a value is a bad response",
			body: vector(`{"metric":{"account":"a"}}`), err: "query failed: bad response"},
		{name: "a value that is not a number is a bad response",
			body: vector(`{"metric":{"account":"a"},"value":[1,"many"]}`), err: "query failed: bad response"},
		{name: "an unquoted value is a bad response",
			body: vector(`{"metric":{"account":"a"},"value":[1,5]}`), err: "query failed: bad response"},
		{name: "a label that is not a string is a bad response",
			body: vector(`{"metric":{"account":7},"value":[1,"5"]}`), err: "query failed: bad response"},
		{name: "a series that is not an object is a bad response",
			body: vector(acme, `[1,"2"]`), err: "query failed: bad response"},
		{name: "text is a bad response", body: "secret internals, not json", err: "query failed: bad response"},
		{name: "an empty body is a bad response", body: "", err: "query failed: bad response"},
		{name: "a cut answer is a bad response", body: vector(acme)[:60], err: "query failed: bad response"},
		{name: "text after the answer is a bad response", body: vector(acme) + "{}", err: "query failed: bad response"},
		{name: "data that is not an object is a bad response",
			body: `{"status":"success","data":[1]}`, err: "query failed: bad response"},
		{name: "two results are a bad response",
			body: `{"status":"success","data":{"resultType":"vector","result":[],"result":[]}}`, err: "query failed: bad response"},
		{name: "no data is no result", body: `{"status":"success"}`, err: "query returned no result"},
		{name: "null data is no result", body: `{"status":"success","data":null}`, err: "query returned no result"},
		{name: "an empty object is no result", body: `{}`, err: "query returned no result"},
		{name: "a value larger than 1 MiB is refused, not buffered",
			body: vector(`{"metric":{"account":"` + bigLabel + `"},"value":[1,"1"]}`),
			err:  "query returned a series or value larger than 1 MiB"},
		{name: "a series just under 1 MiB is read",
			body: vector(`{"metric":{"account":"` + bigLabel[:maxValueBytes-100] + `"},"value":[1,"1"]}`),
			want: []visited{{bigLabel[:maxValueBytes-100], Sample{Value: 1}}}},
		{name: "a warning larger than 1 MiB is refused, not buffered",
			body: `{"status":"success","warnings":["` + bigLabel + `"],"data":{"resultType":"vector","result":[]}}`,
			err:  "query returned a series or value larger than 1 MiB"},

		{name: "as many series as the limit are read",
			body: vector(acme, globex), maxSeries: 2, want: []visited{{"acme", Sample{Value: 31}}, {"globex", Sample{Value: 12.5}}}},
		{name: "one series past the limit fails the answer, naming the limit",
			body: vector(acme, globex, acme), maxSeries: 2, err: "query returned more than 2 series, the limit (--source-max-series)"},

		{name: "Prometheus's error in a success is reported with its type",
			body: `{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}`,
			err:  "query failed: execution: query timed out in expression evaluation"},
		{name: "Prometheus's error in a 400 is reported with its type", status: 400,
			body: `{"status":"error","errorType":"bad_data","error":"1:20: parse error: unclosed left parenthesis"}`,
			err:  "query failed: bad_data: 1:20: parse error: unclosed left parenthesis"},
		{name: "a 422 without an error type is a client error", status: 422, body: `{"status":"error"}`,
			err: "query failed: client error: 422"},
		{name: "a 400 that is not an API answer is reported by its code", status: 400, body: "secret internals",
			err: "query failed: client error: 400"},
		{name: "a 400 that says success is a bad response", status: 400, body: vector(acme), err: "query failed: bad response"},
		{name: "an error type no Prometheus sends is not quoted",
			body: `{"status":"error","errorType":"secret","error":"internals"}`, err: "query failed: error"},
		{name: "a 502 is reported by its code, not its body", status: 502, body: "secret internals",
			err: "query failed: server error: 502"},
		{name: "a 503 is reported by its code, not its body", status: 503,
			body: `{"status":"error","errorType":"unavailable","error":"secret"}`, err: "query failed: server error: 503"},
		{name: "a 401 is reported by its code", status: 401, body: "unauthorized", err: "query failed: client error: 401"},
		{name: "a 204 has no answer", status: 204, err: "query failed: bad response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prometheus{AccountLabel: "account", maxSeries: tc.maxSeries}
			if p.maxSeries == 0 {
				p.maxSeries = outbound.DefaultMaxSeries
			}
			status := tc.status
			if status == 0 {
				status = http.StatusOK
			}
			var got []visited
			err := p.answer(&http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(tc.body))},
				func(id string, s Sample) { got = append(got, visited{id, s}) })
			if errText(err) != tc.err {
				t.Fatalf("error %q, want %q", errText(err), tc.err)
			}
			if tc.err == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("series %+v, want %+v", got, tc.want)
			}
		})
	}
}

// errText is an error's text, empty for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPrometheusAnswerTransportFailure: a body that breaks off is a
// transport failure in outbound's words, not a bad response.
func TestPrometheusAnswerTransportFailure(t *testing.T) {
	p := &Prometheus{AccountLabel: "account", maxSeries: 10}
	body := io.MultiReader(strings.NewReader(`{"status":"success","data":{"resultType":"vector","result":[`), failingReader{io.ErrUnexpectedEOF})
	err := p.answer(&http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(body)}, func(string, Sample) {})
	if want := "query failed: " + outbound.ErrTextReset; errText(err) != want {
		t.Errorf("error %q, want %q", errText(err), want)
	}
}

// failingReader fails every read.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestPrometheusPull: what each account gets from one vector query.
func TestPrometheusPull(t *testing.T) {
	answers := map[string]string{
		"up": vector(`{"metric":{"account":"acme-prod"},"value":[1,"31"]}`, `{"metric":{"account":"globex"},"value":[1,"12.5"]}`,
			`{"metric":{"account":"twice"},"value":[1,"1"]}`, `{"metric":{"account":"twice","region":"us"},"value":[1,"2"]}`,
			`{"metric":{"account":"nan"},"value":[1,"NaN"]}`, `{"metric":{"account":"inf"},"value":[1,"-Inf"]}`,
			`{"metric":{"region":"eu"},"value":[1,"3"]}`, `{"metric":{"account":"other"},"value":[1,"9"]}`),
		"scalar": `{"status":"success","data":{"resultType":"scalar","result":[1,"25"]}}`,
		"one":    vector(`{"metric":{},"value":[1,"7"]}`),
	}
	answers["two"] = answers["up"]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answers[r.FormValue("query")])
	}))
	defer srv.Close()
	src, err := NewPrometheus(srv.URL, "telemetry", "account", outbound.NewClient(outbound.Options{Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	targets := []Target{
		{Name: "acme", ExternalIDs: map[string]string{"telemetry": "acme-prod"}},
		{Name: "acme-eu", ExternalIDs: map[string]string{"telemetry": "acme-prod"}},
		{Name: "globex"}, {Name: "twice"}, {Name: "nan"}, {Name: "inf"}, {Name: "initech"},
	}
	for _, tc := range []struct {
		name, query string
		want        map[string]Sample
	}{
		{"a vector query matches each account by its label", "up", map[string]Sample{
			"acme":    {Value: 31},
			"acme-eu": {Value: 31}, // two accounts may share an id
			"globex":  {Value: 12.5},
			"twice":   {Err: `several series with account="twice"`},
			"nan":     {Err: "value is not a finite number"},
			"inf":     {Err: "value is not a finite number"},
			"initech": {Err: `no series with account="initech"`},
		}},
		{"a scalar has no account label", "scalar", map[string]Sample{
			"acme": {Err: `no series with account="acme-prod"`}, "acme-eu": {Err: `no series with account="acme-prod"`},
			"globex": {Err: `no series with account="globex"`}, "twice": {Err: `no series with account="twice"`},
			"nan": {Err: `no series with account="nan"`}, "inf": {Err: `no series with account="inf"`},
			"initech": {Err: `no series with account="initech"`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pullOne(context.Background(), src, &csv1alpha1.Measure{Query: tc.query}, targets)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("a templated query wants exactly one series", func(t *testing.T) {
		for query, want := range map[string]Sample{
			"{{/* x */}}one":    {Value: 7},
			"{{/* x */}}scalar": {Value: 25},
			"{{/* x */}}two":    {Err: "query returned 8 series, want 1"},
		} {
			got := pullOne(context.Background(), src, &csv1alpha1.Measure{Query: query}, targets[:1])
			if got["acme"] != want {
				t.Errorf("%s: got %+v, want %+v", query, got["acme"], want)
			}
		}
	})
}

// TestPrometheusRequest: the query reaches the API as client_golang's API
// client sends it: a POST form under the source's path, with the URL's
// own parameters both in the URL and in the form, and a GET with the same
// parameters when POST is refused.
func TestPrometheusRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	refusePost := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = r.ParseForm()
		seen = append(seen, fmt.Sprintf("%s %s?%s %s %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.PostForm.Encode()))
		if refusePost && r.Method == http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		fmt.Fprint(w, vector(`{"metric":{},"value":[1,"7"]}`))
	}))
	defer srv.Close()
	src, err := NewPrometheus(srv.URL+"/prom/?tenant=a", "telemetry", "account", outbound.NewClient(outbound.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	measure := &csv1alpha1.Measure{Query: `{{/* templated */}}sum(up{job="a b"})`}
	for _, tc := range []struct {
		name       string
		refusePost bool
		want       []string
	}{
		{"a POST form", false, []string{
			"POST /prom/api/v1/query?tenant=a application/x-www-form-urlencoded query=sum%28up%7Bjob%3D%22a+b%22%7D%29&tenant=a"}},
		{"a GET when POST is refused", true, []string{
			"POST /prom/api/v1/query?tenant=a application/x-www-form-urlencoded query=sum%28up%7Bjob%3D%22a+b%22%7D%29&tenant=a",
			"GET /prom/api/v1/query?query=sum%28up%7Bjob%3D%22a+b%22%7D%29&tenant=a  "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen, refusePost = nil, tc.refusePost
			mu.Unlock()
			got := pullOne(context.Background(), src, measure, []Target{{Name: "acme"}})
			if got["acme"] != (Sample{Value: 7}) {
				t.Errorf("got %+v", got["acme"])
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(seen, tc.want) {
				t.Errorf("requests\n%q\nwant\n%q", seen, tc.want)
			}
		})
	}
	if _, err := NewPrometheus("http://[::1", "telemetry", "account", nil); errText(err) != "invalid URL" {
		t.Errorf("a bad URL: %v", err)
	}
}
