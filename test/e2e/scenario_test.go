package e2e

import (
	"fmt"
	"sort"
	"strings"

	"customersuccess.dev/success-operator/internal/demo"
)

// final is where the demo's story leaves each account once the simulator's
// ramps are over (config/demo/README.md tells it). mosaic's stage depends
// on how early its first value is read, so only its band is checked.
var final = map[string]string{
	"acme": "Nurturing/Green", "bluebird": "Adoption/Yellow", "cobalt": "Renewal/Red", "dunder": "Expansion/Green",
	"emberly": "Renewal/Green", "fjord": "Churned/Red", "gable": "Adoption/Yellow", "harbor": "Onboarding/Yellow",
	"ironwood": "Renewal/Yellow", "globex": "Nurturing/Green", "hooli": "Expansion/Green", "initech": "Renewal/Red",
	"umbrella": "Churned/Red", "vandelay": "Adoption/Yellow", "kitewave": "Nurturing/Green", "lumen": "Expansion/Green",
	"mosaic": "*/Red", "nimbus": "Nurturing/Green", "orbit": "Onboarding/Red", "pylon": "Renewal/Green",
	"quarry": "Nurturing/Green", "redwood": "Renewal/Yellow", "sable": "Onboarding/Yellow",
}

var (
	// redwood and sable are AtRisk on their warehouse data: open tickets,
	// an overdue invoice.
	atRisk         = []string{"cobalt", "fjord", "initech", "mosaic", "orbit", "umbrella", "redwood", "sable"}
	expansionReady = []string{"dunder", "hooli", "lumen"}
	renewalCalls   = []string{"cobalt", "emberly", "initech", "ironwood", "pylon", "redwood"}
	// placedInRenewal are within 60 days of renewal when the demo starts:
	// their first evaluation places them in Renewal.
	placedInRenewal = []string{"cobalt", "initech", "ironwood", "pylon", "redwood"}
)

// scenario checks, with kubectl, that the demo reaches its story, then
// moves one account's usage and sees the operator follow.
func scenario(e *env) {
	e.eventually("every account in its final stage and band", func() string {
		got := e.list(`{.status.stage}/{.status.health.band}`)
		var wrong []string
		for name, want := range final {
			if !matches(got[name], want) {
				wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", name, got[name], want))
			}
		}
		sort.Strings(wrong)
		return strings.Join(wrong, "; ")
	})
	e.eventually("signals", func() string {
		risk := e.list(`{.status.conditions[?(@.type=="AtRisk")].status}`)
		expansion := e.list(`{.status.conditions[?(@.type=="ExpansionReady")].status}`)
		metrics := e.list(`{.status.conditions[?(@.type=="MetricsAvailable")].status}`)
		for name := range final {
			if want := status(contains(atRisk, name)); risk[name] != want {
				return fmt.Sprintf("%s AtRisk=%s, want %s", name, risk[name], want)
			}
			if want := status(contains(expansionReady, name)); expansion[name] != want {
				return fmt.Sprintf("%s ExpansionReady=%s, want %s", name, expansion[name], want)
			}
			if metrics[name] != "True" {
				return fmt.Sprintf("%s MetricsAvailable=%s", name, metrics[name])
			}
		}
		return ""
	})

	// Plans: counts, MRR and KPIs, as kubectl shows them.
	e.eventually("plan status", func() string {
		checks := map[string]string{
			"smb:{.status.accounts}":                              "9",
			"enterprise:{.status.accounts}":                       "5",
			"startup:{.status.accounts}":                          "6",
			"warehouse:{.status.accounts}":                        "3",
			"warehouse:{.status.bands.Yellow}":                    "2",
			"smb:{.status.stages.Renewal}":                        "3",
			"smb:{.status.stages.Churned}":                        "1",
			"enterprise:{.status.stages.Expansion}":               "1",
			"smb:{.status.bands.Red}":                             "2",
			"smb:{.status.kpis.netRevenueRetention}":              "93.8",
			"enterprise:{.status.kpis.netRevenueRetention}":       "90",
			"startup:{.status.kpis.netRevenueRetention}":          "98.7",
			`smb:{.status.conditions[?(@.type=="Ready")].status}`: "True",
		}
		for k, want := range checks {
			name, path, _ := strings.Cut(k, ":")
			if got := e.jsonpath("successplan", name, path); got != want {
				return fmt.Sprintf("successplan %s %s = %q, want %q", name, path, got, want)
			}
		}
		return ""
	})

	// Actions: each account's welcome, and the renewal calls, arrived signed
	// and exactly once; but an account placed past Onboarding on its first
	// evaluation is an existing customer: its welcome is recorded Skipped,
	// reason Imported, and never sent.
	e.eventually("webhooks", func() string {
		got := map[string]int{}
		for _, d := range e.sink.Deliveries() {
			if !d.Signed || d.Duplicate {
				return fmt.Sprintf("delivery %+v is unsigned or a duplicate", d.Payload)
			}
			got[d.Payload.Action+"/"+d.Payload.Account]++
		}
		imported := e.list(`{.status.actions[?(@.reason=="Imported")].name}`)
		for _, name := range placedInRenewal {
			if imported[name] == "" {
				return fmt.Sprintf("%s, placed in Renewal, records no action Skipped as Imported", name)
			}
		}
		for name, want := range final {
			if strings.HasPrefix(want, "Churned") {
				continue
			}
			if wantWelcome := imported[name] == ""; (got["welcome/"+name] == 1) != wantWelcome || got["welcome/"+name] > 1 {
				return fmt.Sprintf("welcome for %s arrived %d times (actions skipped as Imported: %q)", name, got["welcome/"+name], imported[name])
			}
		}
		for _, name := range renewalCalls {
			if got["renewal-call/"+name] != 1 {
				return fmt.Sprintf("renewal-call for %s arrived %d times", name, got["renewal-call/"+name])
			}
		}
		return ""
	})

	// Usage collapses at acme: it turns Red and AtRisk, and its plan counts it.
	e.sim.Set("acme-prod", demo.MetricActiveUsers, 2)
	e.sim.Set("acme-prod", demo.MetricAdoption, 0.05)
	e.eventually("acme at risk", func() string {
		band := e.jsonpath("customeraccount", "acme", "{.status.health.band}")
		risk := e.jsonpath("customeraccount", "acme", `{.status.conditions[?(@.type=="AtRisk")].status}`)
		red := e.jsonpath("successplan", "smb", "{.status.bands.Red}")
		if band != "Red" || risk != "True" || red != "3" {
			return fmt.Sprintf("acme band %s, AtRisk %s, smb Red %s", band, risk, red)
		}
		return ""
	})

	// The manager's own metrics say the same.
	e.eventually("metrics", func() string {
		body, err := e.scrape()
		if err != nil {
			return err.Error()
		}
		for _, series := range []string{
			`successoperator_plan_accounts{namespace="customers",plan="smb"} 9`,
			`successoperator_plan_accounts_by_band{band="Red",namespace="customers",plan="smb"} 3`,
			`successoperator_account_health_band{account="acme",band="Red",namespace="customers",plan="smb"} 1`,
			`successoperator_webhook_deliveries_total{result="success"}`,
			`successoperator_source_values_total{namespace="customers",plan="smb",result="success",source="telemetry",source_type="prometheus"}`,
			`successoperator_source_values_total{namespace="customers",plan="warehouse",result="success",source="warehouse",source_type="sql"}`,
			`successoperator_source_values_total{namespace="customers",plan="warehouse",result="success",source="supportdesk",source_type="http"}`,
		} {
			if !strings.Contains(body, series) {
				return "missing " + series
			}
		}
		return ""
	})
}

// list reads one jsonpath of every account, by name.
func (e *env) list(path string) map[string]string {
	out, err := e.try(nil, "get", "customeraccounts", "-n", namespace, "-o",
		`jsonpath={range .items[*]}{.metadata.name}{"\t"}`+path+`{"\n"}{end}`)
	got := map[string]string{}
	if err != nil {
		return got
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, _ := strings.Cut(line, "\t")
		got[name] = value
	}
	return got
}

func matches(got, want string) bool {
	if stage, band, ok := strings.Cut(want, "/"); ok && stage == "*" {
		_, gotBand, _ := strings.Cut(got, "/")
		return gotBand == band
	}
	return got == want
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func status(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
