package demo

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

func TestRamp(t *testing.T) {
	r := Ramp{From: 10, To: 30, Over: metav1.Duration{Duration: 20 * time.Second}}
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		want    float64
	}{
		{"a ramp starts at from", 0, 10},
		{"halfway is halfway", 10 * time.Second, 20},
		{"after over it holds at to", time.Minute, 30},
	} {
		if got := r.at(tc.elapsed); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := (Ramp{From: 1, To: 5}).at(0); got != 5 {
		t.Errorf("a ramp without duration is at to: got %v", got)
	}
}

func TestDemoManifestsRenderAndMatchTheTelemetry(t *testing.T) {
	dir := filepath.Join("..", "..", "config", "demo")
	text := string(render(t))
	if n := strings.Count(text, "kind: CustomerAccount"); n != 23 {
		t.Errorf("%d accounts, want 23", n)
	}
	for _, v := range []string{"http://prom:9090", "http://sink/hooks", "http://desk/export", "postgres://reader@db/analytics", "pw"} {
		if !strings.Contains(text, `"`+v+`"`) {
			t.Errorf("%s not rendered", v)
		}
	}
	if strings.Contains(text, "{{") {
		t.Error("templates not fully rendered")
	}
	tele, err := LoadTelemetry(filepath.Join(dir, "telemetry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every account's telemetry id has a profile, so no series is missing,
	// and every customer of the warehouse and the support desk an account.
	for _, p := range tele.Profiles {
		if !strings.Contains(text, "telemetry: "+p.Account+",") && !strings.Contains(text, "telemetry: "+p.Account+"}") {
			t.Errorf("profile %s matches no account", p.Account)
		}
	}
	if len(tele.Profiles) != 23 {
		t.Errorf("%d profiles, want 23", len(tele.Profiles))
	}
	for _, c := range tele.Customers {
		id := strconv.Itoa(c.ID)
		if !strings.Contains(text, `warehouse: "`+id+`", supportdesk: "`+id+`"}`) {
			t.Errorf("customer %d matches no account", c.ID)
		}
	}
	if len(tele.Customers) != 3 {
		t.Errorf("%d customers, want 3", len(tele.Customers))
	}
}

func TestSinkVerifiesAndDeduplicates(t *testing.T) {
	sink := NewSink([]byte("k"), nil)
	srv := httptest.NewServer(sink)
	defer srv.Close()
	post := func(body, id, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewBufferString(body))
		req.Header.Set(actions.HeaderID, id)
		req.Header.Set(actions.HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set(actions.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"key":"abc","account":"acme","action":"welcome"}`
	sign := func(id string) string { return actions.Sign([]byte("k"), id, time.Now().Unix(), []byte(body)) }
	if code := post(body, "abc", sign("abc")); code != http.StatusAccepted {
		t.Errorf("signed delivery: HTTP %d", code)
	}
	if code := post(body, "abc", sign("abc")); code != http.StatusAccepted {
		t.Errorf("repeated delivery: HTTP %d", code)
	}
	if code := post(body, "abc", "v1,AAAA"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: HTTP %d", code)
	}
	if code := post(body, "abd", sign("abc")); code != http.StatusUnauthorized {
		t.Errorf("signature of another id: HTTP %d", code)
	}
	d := sink.Deliveries()
	if len(d) != 4 || !d[0].Signed || d[0].Duplicate || !d[1].Duplicate || d[2].Signed || d[3].Signed {
		t.Errorf("deliveries = %+v", d)
	}
}

func TestSinkPrintsTheContactsOfEachAction(t *testing.T) {
	var out bytes.Buffer
	sink := NewSink([]byte("demo-signing-key"), Print(&out))
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s := &actions.Sender{}
	p := actions.Payload{Key: "0123456789abcdef", Account: "acme", Stage: "Renewal", Action: "renewal-call",
		Contacts: []actions.Contact{{Name: "Marta Greco", Email: "marta@acme.example", Role: "DecisionMaker"},
			{Name: "Luca Ferri", Email: "luca@acme.example", Role: "Billing"}}}
	if err := s.Send(context.Background(), srv.URL, []byte("demo-signing-key"), p); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	for _, want := range []string{"renewal-call", "acme", "signed=true", "duplicate=false", "key=0123456789ab",
		"to: DecisionMaker Marta Greco, Billing Luca Ferri"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if d := sink.Deliveries(); len(d) != 1 || len(d[0].Payload.Contacts) != 2 {
		t.Errorf("deliveries = %+v", d)
	}
}

// TestEveryDemoAudienceReachesSomeone: the demo's accounts have contacts,
// and each action with an audience finds at least one contact on every
// account of its plan, so the sink shows who each action is for and no
// demo action is Skipped.
func TestEveryDemoAudienceReachesSomeone(t *testing.T) {
	plans, accounts := demoObjects(t)
	audiences := 0
	for _, p := range plans {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.AccountSelector)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts {
			if !sel.Matches(labels.Set(a.Labels)) {
				continue
			}
			if len(a.Spec.Contacts) == 0 {
				t.Errorf("account %s has no contacts", a.Name)
			}
			for _, s := range p.Spec.Stages {
				for _, act := range s.Actions {
					if act.Audience == nil {
						continue
					}
					audiences++
					if len(actions.Recipients(act.Audience, a.Spec.Contacts)) == 0 {
						t.Errorf("action %s of plan %s reaches no contact of account %s", act.Name, p.Name, a.Name)
					}
				}
			}
		}
	}
	if len(plans) != 4 || len(accounts) != 23 || audiences == 0 {
		t.Errorf("%d plans, %d accounts, %d audiences checked", len(plans), len(accounts), audiences)
	}
}

// render renders the demo's manifests with made-up addresses.
func render(t *testing.T) []byte {
	t.Helper()
	out, err := Render(filepath.Join("..", "..", "config", "demo"), Values{PrometheusURL: "http://prom:9090",
		WebhookURL: "http://sink/hooks", SupportDeskURL: "http://desk/export",
		WarehouseDSN: "postgres://reader@db/analytics", WarehousePassword: "pw",
		Now: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoObjects are the demo's plans and accounts, decoded strictly.
func demoObjects(t *testing.T) ([]csv1alpha1.SuccessPlan, []csv1alpha1.CustomerAccount) {
	t.Helper()
	var plans []csv1alpha1.SuccessPlan
	var accounts []csv1alpha1.CustomerAccount
	for _, doc := range strings.Split(string(render(t)), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "SuccessPlan":
			var p csv1alpha1.SuccessPlan
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				t.Fatal(err)
			}
			plans = append(plans, p)
		case "CustomerAccount":
			var a csv1alpha1.CustomerAccount
			if err := yaml.UnmarshalStrict([]byte(doc), &a); err != nil {
				t.Fatal(err)
			}
			accounts = append(accounts, a)
		}
	}
	return plans, accounts
}
