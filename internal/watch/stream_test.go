package watch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// withoutManagedFields decodes a JSON event and deletes its
// object.metadata.managedFields.
func withoutManagedFields(t *testing.T, event []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(event, &v); err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	if o, ok := v.(map[string]any); ok {
		if obj, ok := o["object"].(map[string]any); ok {
			if md, ok := obj["metadata"].(map[string]any); ok {
				delete(md, "managedFields")
			}
		}
	}
	return v
}

func TestDropManagedFields(t *testing.T) {
	mf := `[{"manager":"m","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:a":{}}},"time":"2026-12-02T10:00:00Z"}]`
	dropped := []struct{ name, in, want string }{
		{"between two members",
			`{"type":"MODIFIED","object":{"kind":"K","metadata":{"name":"a","managedFields":` + mf + `,"uid":"u"},"spec":{}}}`,
			`{"type":"MODIFIED","object":{"kind":"K","metadata":{"name":"a","uid":"u"},"spec":{}}}`},
		{"the first member",
			`{"type":"ADDED","object":{"metadata":{"managedFields":` + mf + `,"name":"a"}}}`,
			`{"type":"ADDED","object":{"metadata":{"name":"a"}}}`},
		{"the last member",
			`{"type":"ADDED","object":{"metadata":{"name":"a","managedFields":` + mf + `}}}`,
			`{"type":"ADDED","object":{"metadata":{"name":"a"}}}`},
		{"the only member",
			`{"type":"ADDED","object":{"metadata":{"managedFields":` + mf + `}}}`,
			`{"type":"ADDED","object":{"metadata":{}}}`},
		{"with white space and a newline",
			"{ \"object\" : { \"metadata\" : { \"name\" : \"a\" , \"managedFields\" : [ ] , \"uid\" : \"u\" } } , \"type\" : \"ADDED\" }\n",
			"{ \"object\" : { \"metadata\" : { \"name\" : \"a\" , \"uid\" : \"u\" } } , \"type\" : \"ADDED\" }\n"},
		{"after members with strings, numbers, literals and nested values",
			`{"type":"MODIFIED","object":{"apiVersion":"v1","metadata":{"name":"a \"}\\","generation":-1.5e+3,"deleted":null,"ok":true,` +
				`"labels":{"x":"[{"},"finalizers":["a","b"],"managedFields":` + mf + `}}}`,
			`{"type":"MODIFIED","object":{"apiVersion":"v1","metadata":{"name":"a \"}\\","generation":-1.5e+3,"deleted":null,"ok":true,` +
				`"labels":{"x":"[{"},"finalizers":["a","b"]}}}`},
	}
	for _, tc := range dropped {
		t.Run(tc.name, func(t *testing.T) {
			got := DropManagedFields([]byte(tc.in))
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}

	unchanged := []struct{ name, in string }{
		{"no managedFields", `{"type":"ADDED","object":{"metadata":{"name":"a"}}}`},
		{"managedFields in a label", `{"type":"ADDED","object":{"metadata":{"labels":{"managedFields":"x"}}}}`},
		{"managedFields in the spec", `{"type":"ADDED","object":{"metadata":{"name":"a"},"spec":{"managedFields":[]}}}`},
		{"managedFields beside the object", `{"type":"ADDED","managedFields":[],"object":{}}`},
		{"managedFields quoted in a value", `{"type":"ADDED","object":{"metadata":{"name":"\"managedFields\":[]"}}}`},
		{"an error event", `{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old","code":410}}`},
		{"a bookmark", `{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}`},
		{"a truncated event", `{"type":"ADDED","object":{"metadata":{"name":"a","managedFields":[{"manager":"m"`},
		{"a malformed value", `{"type":"ADDED","object":{"metadata":{"managedFields":[}]}}}`},
		{"a missing comma", `{"type":"ADDED","object":{"metadata":{"managedFields":[] "name":"a"}}}`},
		{"a line of pretty-printed JSON", `  "managedFields": [`},
		{"not an object", `["object",{"metadata":{"managedFields":[]}}]`},
		{"empty", ``},
	}
	for _, tc := range unchanged {
		t.Run(tc.name, func(t *testing.T) {
			if got := DropManagedFields([]byte(tc.in)); string(got) != tc.in {
				t.Errorf("got  %s\nwant it unchanged", got)
			}
		})
	}
}

// FuzzDropManagedFields: whatever the input, DropManagedFields removes
// nothing but object.metadata.managedFields, and keeps well-formed JSON
// well-formed and malformed JSON malformed.
func FuzzDropManagedFields(f *testing.F) {
	f.Add(`{"type":"MODIFIED","object":{"metadata":{"name":"a","managedFields":[{"f":{}}],"uid":"u"}}}`)
	f.Add(`{"object":{"metadata":{"managedFields":[]}}}`)
	f.Add(`{"object":{"metadata":{"managedFields":[],"managedFields":{}}},"object":{"metadata":{"managedFields":1}}}`)
	f.Add(`{"object":{"metadata":{"a":"\u0000\\","managedFields":["\ud800"]}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		out := DropManagedFields([]byte(in))
		if string(out) == in {
			return
		}
		if json.Valid([]byte(in)) != json.Valid(out) {
			t.Fatalf("%q became %q: validity changed", in, out)
		}
		if !strings.Contains(in, "managedFields") || len(out) >= len(in) {
			t.Fatalf("%q became %q", in, out)
		}
		if json.Valid(out) && !reflect.DeepEqual(withoutManagedFields(t, []byte(in)), withoutManagedFields(t, out)) {
			t.Fatalf("%q became %q: more than managedFields changed", in, out)
		}
	})
}

// TestLeanBodyReadsLongLines: a stream whose lines are longer than the
// reader's buffer, split into small writes, comes out line for line, each
// without managedFields, and the stream's end is kept.
func TestLeanBodyReadsLongLines(t *testing.T) {
	var in, want bytes.Buffer
	for i := range 5 {
		long := strings.Repeat("x", 100*i)
		fmt.Fprintf(&in, `{"type":"ADDED","object":{"metadata":{"name":"%s","managedFields":[{"m":"%s"}]}}}`+"\n", long, long)
		fmt.Fprintf(&want, `{"type":"ADDED","object":{"metadata":{"name":"%s"}}}`+"\n", long)
	}
	in.WriteString(`{"type":"ADDED","object":{"metadata":{"managedFields":[]}}}`) // no newline at the end
	want.WriteString(`{"type":"ADDED","object":{"metadata":{}}}`)
	body := &leanBody{body: io.NopCloser(&in), r: bufio.NewReaderSize(&in, 16)}
	got, err := io.ReadAll(iotestHalfReader{body})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got, want.String())
	}
}

// iotestHalfReader reads at most 7 bytes at a time.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 7)]) }

// TestLeanStreams: a client of LeanStreams receives watch events without
// managedFields and everything else as sent; other answers pass as they
// came.
func TestLeanStreams(t *testing.T) {
	acct := csv1alpha1.CustomerAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: csv1alpha1.GroupVersion.String(), Kind: "CustomerAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "ns", ResourceVersion: "7", Labels: map[string]string{"tier": "gold"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{}}`)}}},
		Spec: csv1alpha1.CustomerAccountSpec{DisplayName: "Acme"},
	}
	raw, err := json.Marshal(acct)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			fmt.Fprintf(w, `{"kind":"CustomerAccountList","apiVersion":"customersuccess.dev/v1alpha1","metadata":{},"items":[%s]}`, raw)
			return
		}
		for _, typ := range []string{"ADDED", "MODIFIED"} {
			fmt.Fprintf(w, `{"type":%q,"object":%s}`+"\n", typ, raw)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()

	scheme := runtime.NewScheme()
	if err := csv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	metav1.AddToGroupVersion(scheme, csv1alpha1.GroupVersion)
	cfg := LeanStreams(&rest.Config{Host: srv.URL})
	cfg.GroupVersion = &csv1alpha1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}

	w, err := c.Get().Namespace("ns").Resource("customeraccounts").Param("watch", "true").Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := acct.DeepCopy()
	want.ManagedFields = nil
	want.TypeMeta = metav1.TypeMeta{} // the decoder clears it
	for _, typ := range []watch.EventType{watch.Added, watch.Modified} {
		ev := <-w.ResultChan()
		got, ok := ev.Object.(*csv1alpha1.CustomerAccount)
		if ev.Type != typ || !ok {
			t.Fatalf("event %s %T, want %s of an account", ev.Type, ev.Object, typ)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("watched %+v\nwant %+v", got, want)
		}
	}

	list := &csv1alpha1.CustomerAccountList{}
	if err := c.Get().Namespace("ns").Resource("customeraccounts").Do(context.Background()).Into(list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].ManagedFields) != 1 {
		t.Errorf("listed %+v, want the account with its managedFields", list.Items)
	}
}
