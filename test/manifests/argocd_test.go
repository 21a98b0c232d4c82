package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// argoHealth is what an Argo CD health check returns.
type argoHealth struct {
	Status, Message string
}

// argoStatuses are the health statuses Argo CD accepts from a script; it
// turns any other into Unknown.
var argoStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// runHealthLua runs script over the object in objJSON the way Argo CD runs a
// health check from argocd-cm (util/lua in argo-cd): only the package, base
// and table libraries (Argo CD adds a reduced os, which the script does not
// use), a one-second deadline, the object decoded as unstructured (integers
// as int64) and set as the global obj, and a table returned. Anything Argo
// CD would reject fails the test.
func runHealthLua(t *testing.T, script, objJSON string) argoHealth {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON([]byte(objJSON)); err != nil {
		t.Fatalf("decoding the object: %v", err)
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj.Object))
	if err := l.DoString(script); err != nil {
		t.Fatalf("the health check raised an error: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health check returned %s, not a table", l.Get(-1).Type())
	}
	status, ok := ret.RawGetString("status").(lua.LString)
	if !ok || !argoStatuses[string(status)] {
		t.Fatalf("the health check returned the status %v, which Argo CD turns into Unknown", ret.RawGetString("status"))
	}
	h := argoHealth{Status: string(status)}
	switch m := ret.RawGetString("message").(type) {
	case lua.LString:
		h.Message = string(m)
	case *lua.LNilType:
	default:
		t.Fatalf("the health check returned a message of type %s, not a string", m.Type())
	}
	return h
}

// luaValue converts a decoded JSON value to Lua as Argo CD's decodeValue
// does: arrays become sequences, objects tables, numbers LNumber.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(luaValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), luaValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// healthScript reads the shipped health check.
func healthScript(t testing.TB, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestArgoCDHealthCheck(t *testing.T) {
	script := healthScript(t, repoRoot(t))
	const meta = `{"name": "acme", "namespace": "customers", "generation": 3}`
	tests := map[string]struct {
		meta   string // metadata; meta above unless set, omitted when "-"
		status string // status; omitted when empty
		want   argoHealth
	}{
		"An object the controller has not seen yet has no status": {
			want: argoHealth{"Progressing", "Waiting for the controller to observe generation 3"},
		},
		"A status without observedGeneration is not observed yet, even when Ready": {
			status: `{"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}`,
			want:   argoHealth{"Progressing", "Waiting for the controller to observe generation 3"},
		},
		"A status for an older generation is not observed yet, even when Ready": {
			status: `{"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}`,
			want:   argoHealth{"Progressing", "Waiting for the controller to observe generation 3"},
		},
		"Stalled=True is Degraded with its reason and message, whatever Ready says": {
			status: `{"observedGeneration": 3, "conditions": [
				{"type": "Ready", "status": "True", "reason": "Reconciled"},
				{"type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "spec.mrr is negative"}]}`,
			want: argoHealth{"Degraded", "InvalidSpec: spec.mrr is negative"},
		},
		"Stalled=True wins over Reconciling=True": {
			status: `{"observedGeneration": 3, "conditions": [
				{"type": "Reconciling", "status": "True", "reason": "Progressing"},
				{"type": "Stalled", "status": "True", "reason": "PlanInvalid"}]}`,
			want: argoHealth{"Degraded", "PlanInvalid"},
		},
		"Stalled=False changes nothing": {
			status: `{"observedGeneration": 3, "conditions": [
				{"type": "Stalled", "status": "False", "reason": "Reconciled"},
				{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "Band Green"}]}`,
			want: argoHealth{"Healthy", "Reconciled: Band Green"},
		},
		"Reconciling=True is Progressing with its reason and message, whatever Ready says": {
			status: `{"observedGeneration": 3, "conditions": [
				{"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Pulling 2 sources"},
				{"type": "Ready", "status": "False", "reason": "PlanNotFound"}]}`,
			want: argoHealth{"Progressing", "Progressing: Pulling 2 sources"},
		},
		"Ready=True is Healthy": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "Band Green"}]}`,
			want:   argoHealth{"Healthy", "Reconciled: Band Green"},
		},
		"A status for a newer generation than the cached object counts as observed": {
			status: `{"observedGeneration": 4, "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}`,
			want:   argoHealth{"Healthy", "Reconciled"},
		},
		"Ready=False is Degraded with Ready's reason and message": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "False", "reason": "NoPlan", "message": "No SuccessPlan selects the account"}]}`,
			want:   argoHealth{"Degraded", "NoPlan: No SuccessPlan selects the account"},
		},
		"Ready=False with only a message shows the message": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "False", "message": "Plan gold not found"}]}`,
			want:   argoHealth{"Degraded", "Plan gold not found"},
		},
		"Ready=False with neither reason nor message still says why it is Degraded": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "False", "reason": "", "message": null}]}`,
			want:   argoHealth{"Degraded", "Not ready"},
		},
		"Ready=Unknown is Progressing with its reason": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Progressing"}]}`,
			want:   argoHealth{"Progressing", "Progressing"},
		},
		"No Ready condition among others is Progressing": {
			status: `{"observedGeneration": 3, "conditions": [{"type": "Valid", "status": "True", "reason": "Valid"}]}`,
			want:   argoHealth{"Progressing", "Waiting for the Ready condition"},
		},
		"An empty list of conditions is Progressing": {
			status: `{"observedGeneration": 3, "conditions": []}`,
			want:   argoHealth{"Progressing", "Waiting for the Ready condition"},
		},
		"A status without conditions is Progressing": {
			status: `{"observedGeneration": 3}`,
			want:   argoHealth{"Progressing", "Waiting for the Ready condition"},
		},
		"Conditions that are not a list are ignored": {
			status: `{"observedGeneration": 3, "conditions": "Ready"}`,
			want:   argoHealth{"Progressing", "Waiting for the Ready condition"},
		},
		"Null and malformed conditions are skipped": {
			status: `{"observedGeneration": 3, "conditions": [null, "Ready", {"type": null}, {"type": "Ready", "status": "True"}]}`,
			want:   argoHealth{"Healthy", "Ready"},
		},
		"A status that is not an object is not observed yet": {
			status: `"Ready"`,
			want:   argoHealth{"Progressing", "Waiting for the controller to observe generation 3"},
		},
		"An observedGeneration that is not a number is not observed yet": {
			status: `{"observedGeneration": "3", "conditions": [{"type": "Ready", "status": "True"}]}`,
			want:   argoHealth{"Progressing", "Waiting for the controller to observe generation 3"},
		},
		"Without metadata the conditions decide": {
			meta:   "-",
			status: `{"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}`,
			want:   argoHealth{"Healthy", "Reconciled"},
		},
		"Without metadata or status the object waits for the controller": {
			meta: "-",
			want: argoHealth{"Progressing", "Waiting for the controller to observe the object"},
		},
		"A generation that is not a number is ignored": {
			meta:   `{"name": "acme", "generation": "3"}`,
			status: `{"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec"}]}`,
			want:   argoHealth{"Degraded", "InvalidSpec"},
		},
	}
	for _, kind := range []string{"CustomerAccount", "SuccessPlan"} {
		for name, tt := range tests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				obj := fmt.Sprintf(`{"apiVersion": "customersuccess.dev/v1alpha1", "kind": %q`, kind)
				switch tt.meta {
				case "":
					obj += `, "metadata": ` + meta
				case "-":
				default:
					obj += `, "metadata": ` + tt.meta
				}
				if tt.status != "" {
					obj += `, "status": ` + tt.status
				}
				if got := runHealthLua(t, script, obj+"}"); got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	}
}

// TestArgoCDConfigMapCarriesTheHealthCheck checks that config/argocd
// renders argocd-cm with the keys Argo CD looks up for each kind
// (resource.customizations.health.<group>_<kind>), each holding health.lua
// unchanged, and the label Argo CD selects its ConfigMaps by.
func TestArgoCDConfigMapCarriesTheHealthCheck(t *testing.T) {
	root := repoRoot(t)
	script := healthScript(t, root)
	objs := kustomize(t, root, "config/argocd")
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" || objs[0].GetName() != "argocd-cm" {
		t.Fatalf("config/argocd renders %d objects, want only the ConfigMap argocd-cm", len(objs))
	}
	cm := objs[0]
	if got := cm.GetLabels()["app.kubernetes.io/part-of"]; got != "argocd" {
		t.Errorf("label app.kubernetes.io/part-of is %q; Argo CD reads only ConfigMaps labelled argocd", got)
	}
	data, _, err := unstructured.NestedStringMap(cm.Object, "data")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"CustomerAccount", "SuccessPlan"} {
		key := "resource.customizations.health.customersuccess.dev_" + kind
		if data[key] != script {
			t.Errorf("argocd-cm key %s does not hold config/argocd/health.lua", key)
		}
		delete(data, key)
	}
	for key := range data {
		t.Errorf("argocd-cm has the key %s, which a server-side apply would take over from the Argo CD installation", key)
	}
}

// FuzzArgoCDHealthCheck runs the health check over arbitrary statuses: it
// never raises an error and always returns a status Argo CD accepts.
func FuzzArgoCDHealthCheck(f *testing.F) {
	script := healthScript(f, repoRoot(f))
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"Ready"`, `{"observedGeneration": 3}`, `{"observedGeneration": 3, "conditions": {}}`,
		`{"observedGeneration": 3, "conditions": [{"type": "Stalled", "status": "True", "reason": 1, "message": {}}]}`,
		`{"observedGeneration": 3.5, "conditions": [{"type": "Ready", "status": true, "message": ["a"]}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, status string) {
		obj := `{"apiVersion": "customersuccess.dev/v1alpha1", "kind": "CustomerAccount", "metadata": {"generation": 3}, "status": ` + status + `}`
		if (&unstructured.Unstructured{}).UnmarshalJSON([]byte(obj)) != nil {
			return // not an object the API server could hold
		}
		runHealthLua(t, script, obj)
	})
}
