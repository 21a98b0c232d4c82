package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/evaluate"
	"customersuccess.dev/success-operator/internal/expr"
)

// The preview's rendering tests run the plugin in-process, offline
// (--accounts), against the manifests under testdata/preview: the smb
// plan as applied with six accounts and the status it gave them, and the
// smb plan changed (smb-v2.yaml).

const previewAccounts = "testdata/preview/accounts"

// runPlugin runs `kubectl success ARGS` in-process, with stdin, and
// returns what it printed and the exit code main would use.
func runPlugin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	// No kubeconfig of the machine's is read: -n or the manifests name
	// the namespace.
	cmd.SetArgs(append([]string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, args...))
	r := result{}
	if err := cmd.Execute(); err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
		r.code = exitCode(err)
	}
	r.stdout, r.stderr = out.String(), errOut.String()
	return r
}

// previewOffline previews plan against the testdata accounts at the
// golden files' moment.
func previewOffline(t *testing.T, plan string, extra ...string) result {
	t.Helper()
	return runPlugin(t, "", append([]string{"preview", "-f", plan, "--accounts", previewAccounts, nowFlag}, extra...)...)
}

// TestPreviewGolden: the changed plan moves scores, bands, stages and
// risk, and drops vandelay.
func TestPreviewGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"preview-smb-v2.txt", nil},
		{"preview-smb-v2-all.txt", []string{"--all"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := previewOffline(t, "testdata/preview/smb-v2.yaml", tc.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit code %d: %s", r.code, r.stderr)
			}
			golden(t, tc.file, r.stdout)
		})
	}
}

// TestPreviewUnchangedPlan: the plan as applied reports no change and
// lists nothing.
func TestPreviewUnchangedPlan(t *testing.T) {
	r := previewOffline(t, previewAccounts+"/smb.yaml")
	want := "Preview of SuccessPlan customers/smb (offline) at 2026-04-01 12:00 UTC: 6 accounts, 0 changing.\n\nNo change.\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit code %d, got:\n%s%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	var res previewResult
	r = previewOffline(t, previewAccounts+"/smb.yaml", "-o", "json")
	if err := yaml.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Changed || len(res.Accounts) != 6 || res.BandChanges != 0 || res.StageChanges != 0 || res.AtRisk.Entering != "0" {
		t.Errorf("unchanged plan: %+v", res)
	}
}

// TestPreviewStructured: -o json and -o yaml carry the same figures as
// the table.
func TestPreviewStructured(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		r := previewOffline(t, "testdata/preview/smb-v2.yaml", "-o", format)
		var res previewResult
		if err := yaml.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, r.stdout)
		}
		if !res.Changed || !res.Offline || res.Plan != "smb" || res.Namespace != "customers" || len(res.Accounts) != 5 ||
			res.BandChanges != 2 || res.StageChanges != 2 || strings.Join(res.Leaving, ",") != "vandelay" {
			t.Errorf("%s: %+v", format, res)
		}
		if res.Red.Entering != "1200" || strings.Join(res.Red.EnteringAccounts, ",") != "hooli" ||
			res.AtRisk.Before != "2000" || res.AtRisk.After != "4500" || res.AtRisk.Entering != "2500" {
			t.Errorf("%s: red %+v, at risk %+v", format, res.Red, res.AtRisk)
		}
		if res.Bands.Before != (csv1alpha1.BandCounts{Green: 2, Yellow: 2, Red: 1}) || res.Bands.After != (csv1alpha1.BandCounts{Green: 3, Red: 2}) {
			t.Errorf("%s: bands %+v", format, res.Bands)
		}
	}
}

// TestPreviewFailOn: a limit exceeded exits 2 after printing the preview;
// a limit met exits 0; a malformed one is an error, exit 1.
func TestPreviewFailOn(t *testing.T) {
	for _, tc := range []struct {
		failOn string
		code   int
		stderr string
	}{
		{failOn: "band-changes=2,stage-changes=2,red=1,at-risk-mrr=2500", code: 0},
		{failOn: "band-changes=1", code: 2, stderr: "error: --fail-on: band-changes is 2, above 1\n"},
		{failOn: "red=0,at-risk-mrr=2499.5", code: 2, stderr: "error: --fail-on: red is 1, above 0; at-risk-mrr is 2500, above 2499.5\n"},
		{failOn: "stage-changes=1", code: 2, stderr: "error: --fail-on: stage-changes is 2, above 1\n"},
		{failOn: "band-changes=1.5", code: 1, stderr: "error: --fail-on band-changes: \"1.5\" is not a limit\n"},
		{failOn: "churn=1", code: 1, stderr: "error: --fail-on \"churn=1\": want band-changes=N, stage-changes=N, red=N or at-risk-mrr=X\n"},
	} {
		t.Run(tc.failOn, func(t *testing.T) {
			r := previewOffline(t, "testdata/preview/smb-v2.yaml", "--fail-on", tc.failOn)
			if r.code != tc.code || r.stderr != tc.stderr {
				t.Errorf("got exit code %d, stderr %q; want %d, %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			if tc.code != 1 && !strings.Contains(r.stdout, "hooli") {
				t.Errorf("the preview is not printed:\n%s", r.stdout)
			}
		})
	}
}

// invalidPlans change the smb plan so that only the operator can refuse
// it: an expression that does not type-check, a measure naming a source
// the plan lacks.
var invalidPlans = map[string]func(string) string{
	"cel": func(s string) string {
		return strings.Replace(s, `atRisk: "health.score < 50 || measures.sentiment.value <= 2.0"`, `atRisk: "health.score < 'fifty'"`, 1)
	},
	"source": func(s string) string {
		return strings.Replace(s, "{name: sentiment, source: csm,", "{name: sentiment, source: survey,", 1)
	},
}

// TestPreviewRefusesInvalidPlans: exit code 1, nothing on stdout, and the
// message the plan's Valid condition carries (the cluster test checks
// that against the operator).
func TestPreviewRefusesInvalidPlans(t *testing.T) {
	v2, err := os.ReadFile("testdata/preview/smb-v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := expr.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range invalidPlans {
		t.Run(name, func(t *testing.T) {
			manifest := change(string(v2))
			if manifest == string(v2) {
				t.Fatal("the change changed nothing")
			}
			plan := &csv1alpha1.SuccessPlan{}
			if err := yaml.Unmarshal([]byte(manifest), plan); err != nil {
				t.Fatal(err)
			}
			model := evaluate.Compile(c, plan)
			if model.Valid() {
				t.Fatal("the plan compiles")
			}
			r := runPlugin(t, manifest, "preview", "-f", "-", "--accounts", previewAccounts, nowFlag)
			want := "error: SuccessPlan \"smb\" is not valid: " + model.Message() + "\n"
			if r.code != 1 || r.stdout != "" || r.stderr != want {
				t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, want)
			}
			if !strings.Contains(r.stderr, "spec.") {
				t.Errorf("no field named: %s", r.stderr)
			}
		})
	}
}

// TestPreviewOfflineStrict: offline, an unknown field is refused, naming
// it, as kubectl apply's default validation would.
func TestPreviewOfflineStrict(t *testing.T) {
	v2, err := os.ReadFile("testdata/preview/smb-v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.Replace(string(v2), "weight: 75", "wieght: 75", 1)
	r := runPlugin(t, manifest, "preview", "-f", "-", "--accounts", previewAccounts, nowFlag)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown field "wieght"`) {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
}

// TestPreviewReadmeExample: the README's preview output is the golden one.
func TestPreviewReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "$ kubectl success preview --accounts accounts/ -f plans/smb.yaml\n")
	if !ok {
		t.Fatal("README.md has no preview example")
	}
	example, _, _ := strings.Cut(after, "```")
	want, err := os.ReadFile("testdata/preview-smb-v2.txt")
	if err != nil {
		t.Fatal(err)
	}
	if example != string(want) {
		t.Errorf("README.md's preview output is not testdata/preview-smb-v2.txt:\n%s", example)
	}
}
