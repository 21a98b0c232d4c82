package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SuccessPlanSpec is the customer-success model of one segment or one named
// customer: where the data comes from, how it becomes a health score, the
// lifecycle stages with their exit criteria, objectives and actions, and the
// risk and expansion signals. Expressions are CEL; see the README for their
// variables.
// +kubebuilder:validation:XValidation:rule="has(self.accountSelector) != has(self.accounts)",message="exactly one of spec.accountSelector and spec.accounts must be set"
type SuccessPlanSpec struct {
	// accountSelector selects the accounts of the plan's segment by label.
	// Exactly one of accountSelector and accounts is set.
	// +optional
	AccountSelector *metav1.LabelSelector `json:"accountSelector,omitempty"`

	// accounts names the accounts of the plan, in the plan's namespace.
	// Exactly one of accountSelector and accounts is set.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	Accounts []string `json:"accounts,omitempty"`

	// priority decides between plans that select the same account: the
	// highest wins, ties go to the name that sorts first. An account's
	// spec.successPlanRef beats every selector.
	// +optional
	// +kubebuilder:default=0
	Priority int32 `json:"priority,omitempty"`

	// interval is how often sources are pulled, at least 10s.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="must be at least 10s"
	Interval metav1.Duration `json:"interval,omitzero"`

	// kpiPeriod is the window of the portfolio KPIs, ending now.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h')",message="must be at least 24h"
	KPIPeriod metav1.Duration `json:"kpiPeriod,omitzero"`

	// grossMargin is the gross margin used for the customer lifetime value,
	// a fraction greater than 0 and at most 1.
	// +optional
	// +kubebuilder:default="1"
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0 && double(self) <= 1.0",message="must be a fraction greater than 0 and at most 1, such as 0.80"
	GrossMargin Decimal `json:"grossMargin,omitempty"`

	// sources are where measures get their values.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Sources []Source `json:"sources,omitempty"`

	// measures are the factors of the health score.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Measures []Measure `json:"measures,omitempty"`

	// health sets the bands of the health score.
	// +optional
	// +kubebuilder:default={}
	Health HealthModel `json:"health,omitzero"`

	// stages are the lifecycle stages, in order. A new account enters the
	// first.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Stages []Stage `json:"stages,omitempty"`

	// signals are CEL conditions for plays.
	// +optional
	Signals PlanSignals `json:"signals,omitzero"`

	// targets are the benchmarks the plan's KPIs are judged against (for
	// example customerChurnRate AtMost 5, nps AtLeast 50); at most one per
	// KPI. status.targets reports each, and the TargetsMet condition the
	// misses.
	// +optional
	// +listType=map
	// +listMapKey=kpi
	// +kubebuilder:validation:MaxItems=10
	Targets []KPITarget `json:"targets,omitempty"`
}

// KPITarget is a benchmark for one KPI.
type KPITarget struct {
	// kpi names a KPI of status.kpis.
	// +required
	KPI KPIName `json:"kpi"`

	// operator is AtLeast (met when the KPI is at least value) or AtMost
	// (met when it is at most value).
	// +required
	Operator TargetOperator `json:"operator"`

	// value is the benchmark, in the KPI's unit (percent for rates and
	// retention, points for NPS and Net Easy Score, months for payback).
	// +required
	Value Decimal `json:"value"`
}

// KPIName names a KPI of status.kpis.
// +kubebuilder:validation:Enum=customerChurnRate;revenueChurnRate;grossRevenueRetention;netRevenueRetention;quickRatio;nps;csat;netEasyScore;clv;paybackMonths
type KPIName string

// TargetOperator compares a KPI with its target.
// +kubebuilder:validation:Enum=AtLeast;AtMost
type TargetOperator string

// Target operators.
const (
	AtLeast TargetOperator = "AtLeast"
	AtMost  TargetOperator = "AtMost"
)

// TargetState is whether a KPI meets its target.
// +kubebuilder:validation:Enum=Met;Missed;Unknown
type TargetState string

// Target states.
const (
	TargetMet    TargetState = "Met"
	TargetMissed TargetState = "Missed"
	// TargetUnknown means the KPI has no value (no data in the period).
	TargetUnknown TargetState = "Unknown"
)

// TargetStatus is one target with the KPI's actual value.
type TargetStatus struct {
	// kpi is the KPI the target is for.
	KPI KPIName `json:"kpi"`
	// operator and target repeat the spec.
	Operator TargetOperator `json:"operator"`
	Target   Decimal        `json:"target"`
	// actual is the KPI's value; empty when it has none.
	// +optional
	Actual Decimal `json:"actual,omitempty"`
	// state is Met, Missed or Unknown (no value).
	State TargetState `json:"state"`
}

// Source is one place measures get values from. Exactly one of prometheus,
// http, sql and static is set.
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.http), has(self.sql), has(self.static)].filter(x, x).size() == 1",message="exactly one of prometheus, http, sql and static must be set"
type Source struct {
	// name identifies the source in measures.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`
	Name string `json:"name"`

	// prometheus pulls values with PromQL instant queries.
	// +optional
	Prometheus *PrometheusSource `json:"prometheus,omitempty"`

	// http pulls a JSON document per account and picks a value with a
	// JSONPath.
	// +optional
	HTTP *HTTPSource `json:"http,omitempty"`

	// sql runs one query per measure per interval against a database that
	// speaks the PostgreSQL protocol (a PostgreSQL replica, or a warehouse
	// with that protocol), for every account of the plan at once.
	// +optional
	SQL *SQLSource `json:"sql,omitempty"`

	// static reads spec.signals of each account: its values by key, and the
	// keys nps, csat and ces computed from the survey counts.
	// +optional
	Static *StaticSource `json:"static,omitempty"`
}

// PrometheusSource queries a Prometheus-compatible API.
type PrometheusSource struct {
	// url is the base URL of the Prometheus API.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// accountLabel is the result label that holds the account's
	// externalIDs.telemetry (or its name when that id is absent).
	// +optional
	// +kubebuilder:default=account
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_][a-zA-Z0-9_]*$`
	AccountLabel string `json:"accountLabel,omitempty"`

	// authSecretRef names a Secret in the plan's namespace with a key token
	// (bearer), or keys username and password (basic), and optionally ca.crt.
	// +optional
	AuthSecretRef *LocalObjectReference `json:"authSecretRef,omitempty"`
}

// HTTPSource fetches one JSON document per account or, with itemsPath, one
// document for all the plan's accounts (an export of a CRM or a support
// desk).
// +kubebuilder:validation:XValidation:rule="has(self.itemsPath) == has(self.keyPath)",message="itemsPath and keyPath go together"
// +kubebuilder:validation:XValidation:rule="!has(self.itemsPath) || !self.url.contains('{{')",message="a url with itemsPath is fetched once for all accounts: it has no template"
type HTTPSource struct {
	// url is a Go template over the account: {{ .Name }}, {{ .Namespace }}
	// and {{ .ExternalIDs.<system> }}; with itemsPath, a plain URL.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// itemsPath selects, in kubectl's JSONPath syntax, the list of items of
	// a document fetched once per interval for every account of the plan,
	// such as {.accounts[*]}. Each measure's jsonPath then reads its value
	// inside an account's item.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	ItemsPath string `json:"itemsPath,omitempty"`

	// rateLimit paces the requests to the source, for APIs that meter
	// them (a CRM, a support desk). Whatever it says, a 429 or 503 answer
	// with Retry-After pauses the source's requests for that long.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// keyPath selects the account key inside each item, such as {.id}: an
	// item belongs to the account whose externalIDs.<source name> (or, when
	// absent, its name) equals it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	KeyPath string `json:"keyPath,omitempty"`

	// authSecretRef names a Secret in the plan's namespace with a key token
	// (bearer), or keys username and password (basic), and optionally ca.crt.
	// +optional
	AuthSecretRef *LocalObjectReference `json:"authSecretRef,omitempty"`
}

// SQLSource connects to a database that speaks the PostgreSQL protocol. Each
// measure's query returns rows of (account key, value) for all accounts;
// a row belongs to the account whose externalIDs.<source name> (or, when
// absent, its name) equals its key.
type SQLSource struct {
	// secretRef names a Secret in the plan's namespace with the key dsn (a
	// PostgreSQL URL or key=value connection string, with its sslmode), and
	// optionally password (kept out of the dsn) and ca.crt (the server's
	// CA, for sslmode verify-ca or verify-full).
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// timeout bounds connecting and each query (its statement_timeout);
	// default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxRows bounds the rows one query may return; a query returning more
	// fails its measure for every account. Default 1,000,000.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxRows int32 `json:"maxRows,omitempty"`
}

// RateLimit paces a source's requests.
type RateLimit struct {
	// requestsPerMinute is the sustained rate of requests; 0 means no
	// bound on the rate.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=600000
	RequestsPerMinute int32 `json:"requestsPerMinute,omitempty"`

	// burst is how many requests may go at once before the rate applies;
	// default 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Burst int32 `json:"burst,omitempty"`

	// concurrency is how many requests may be in flight at once; default 8.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Concurrency int32 `json:"concurrency,omitempty"`
}

// StaticSource reads each account's spec.signals.
type StaticSource struct{}

// MissingPolicy says what a missing measure does to the score.
// +kubebuilder:validation:Enum=Redistribute;Zero;HoldLast
type MissingPolicy string

// Missing-data policies.
const (
	// MissingRedistribute leaves the measure out and spreads its weight over
	// the measures that have values.
	MissingRedistribute MissingPolicy = "Redistribute"
	// MissingZero scores a missing measure 0.
	MissingZero MissingPolicy = "Zero"
	// MissingHoldLast keeps the last good value until staleAfter, then
	// behaves as Redistribute.
	MissingHoldLast MissingPolicy = "HoldLast"
)

// Measure is one factor of the health score.
// +kubebuilder:validation:XValidation:rule="[has(self.query), has(self.jsonPath), has(self.key)].filter(x, x).size() <= 1",message="at most one of query, jsonPath and key may be set"
type Measure struct {
	// name identifies the measure in expressions (measures.<name>) and in
	// overrides.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_]{0,62}$`
	Name string `json:"name"`

	// source is the name of one of the plan's sources.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Source string `json:"source"`

	// query is the PromQL query of a prometheus source (a query without
	// templating is one vector query for every account, grouped by the
	// source's accountLabel), or the SQL query of an sql source: one SELECT
	// returning two columns, the account key and a number, a row per
	// account.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query,omitempty"`

	// jsonPath picks the value from an http source's document, in kubectl's
	// JSONPath syntax, such as {.open}.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	JSONPath string `json:"jsonPath,omitempty"`

	// key is the signal a static source reads: a key of spec.signals.values,
	// or nps, csat or ces.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Key string `json:"key,omitempty"`

	// normalize is an optional CEL expression of type double over value and
	// account, applied before the thresholds; for example
	// value / double(account.contract.seats).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Normalize string `json:"normalize,omitempty"`

	// thresholds map the (normalised) value to a score from 0 to 100.
	// +required
	Thresholds Thresholds `json:"thresholds"`

	// weight is the measure's weight in the score; weights need not sum to
	// 100.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Weight int32 `json:"weight"`

	// missing is what a missing value does: Redistribute (default), Zero or
	// HoldLast.
	// +optional
	// +kubebuilder:default=Redistribute
	Missing MissingPolicy `json:"missing,omitempty"`

	// staleAfter is the age after which a value is stale; default three plan
	// intervals. A stale value is flagged and, under HoldLast, dropped.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	StaleAfter *metav1.Duration `json:"staleAfter,omitempty"`
}

// Thresholds map a value linearly to a score: bad scores 0, good scores 100,
// values beyond either are clamped. When bad is greater than good, lower
// values are better. The numbers are plain JSON numbers such as 0.2.
// +kubebuilder:validation:XValidation:rule="self.bad != self.good",message="bad and good must differ"
type Thresholds struct {
	// bad is the value that scores 0.
	// +required
	Bad float64 `json:"bad"`
	// good is the value that scores 100.
	// +required
	Good float64 `json:"good"`
}

// HealthModel sets the bands of the health score.
type HealthModel struct {
	// bands are the lowest scores of the Green and Yellow bands.
	// +optional
	// +kubebuilder:default={green:70,yellow:40}
	Bands Bands `json:"bands,omitzero"`

	// hysteresis is how many points the score must cross a band threshold by
	// before the band changes, so that a score hovering at a threshold does
	// not flap.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	Hysteresis *int32 `json:"hysteresis,omitempty"`

	// trendWindow is how far back the trend compares the score.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	TrendWindow metav1.Duration `json:"trendWindow,omitzero"`
}

// Bands are the lowest scores of the Green and Yellow bands; below yellow is
// Red.
// +kubebuilder:validation:XValidation:rule="self.green > self.yellow",message="green must be greater than yellow"
type Bands struct {
	// green is the lowest Green score.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Green int32 `json:"green,omitempty"`
	// yellow is the lowest Yellow score; 0 means no Red band.
	// +optional
	// +kubebuilder:default=40
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=99
	Yellow int32 `json:"yellow,omitempty"`
}

// Stage is one lifecycle stage.
type Stage struct {
	// name of the stage, such as Onboarding; Churned is reserved.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]{0,62}$`
	// +kubebuilder:validation:XValidation:rule="self != 'Churned'",message="Churned is reserved for accounts whose revenue churned"
	Name string `json:"name"`

	// maxDuration is how long an account may stay; past it the account is
	// AtRisk with reason StageOverdue.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`

	// enterWhen is a CEL condition that moves an account forward into this
	// stage from an earlier one.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	EnterWhen string `json:"enterWhen,omitempty"`

	// exitWhen is a CEL condition that moves the account to the next stage.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	ExitWhen string `json:"exitWhen,omitempty"`

	// objectives are what the account should reach in this stage. An
	// account's status.objectives holds them while it is in the stage, and
	// drops them when it leaves.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Objectives []Objective `json:"objectives,omitempty"`

	// actions start when an account enters the stage.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Actions []Action `json:"actions,omitempty"`
}

// Objective is a goal of a stage.
type Objective struct {
	// name of the objective.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`
	Name string `json:"name"`

	// when is the CEL condition that achieves the objective.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	When string `json:"when"`

	// within is how long after entering the stage the objective may take;
	// after it, as after the stage's maxDuration, the objective is Overdue.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Within *metav1.Duration `json:"within,omitempty"`
}

// Action is a step of a stage's proactive sequence. It always records an
// Event; a webhook also delivers it.
type Action struct {
	// name of the action.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`
	Name string `json:"name"`

	// after delays the action from the moment the account entered the stage.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	After *metav1.Duration `json:"after,omitempty"`

	// webhook delivers the action as a signed JSON POST.
	// +optional
	Webhook *Webhook `json:"webhook,omitempty"`

	// audience narrows the action to the account's contacts of these roles
	// or personas: the delivery carries the matching contacts, and an
	// account with none records the action Skipped. Without an audience
	// the action reaches the account and carries no contacts.
	// +optional
	Audience *Audience `json:"audience,omitempty"`
}

// Audience selects contacts: a contact matches when its role is one of
// roles or its persona one of personas.
// +kubebuilder:validation:XValidation:rule="has(self.roles) || has(self.personas)",message="audience must name at least one role or persona"
type Audience struct {
	// roles of the contacts to reach.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=6
	Roles []ContactRole `json:"roles,omitempty"`

	// personas of the contacts to reach.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	Personas []string `json:"personas,omitempty"`
}

// Webhook is a signed JSON POST target.
type Webhook struct {
	// url receives the POST.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// secretRef names a Secret in the plan's namespace whose key "key" signs
	// the payload with HMAC-SHA256.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// PlanSignals are CEL conditions evaluated for every account.
type PlanSignals struct {
	// atRisk makes the account AtRisk while it holds.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	AtRisk string `json:"atRisk,omitempty"`

	// expansion makes the account ExpansionReady while it holds.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Expansion string `json:"expansion,omitempty"`
}

// BandCounts counts accounts per health band. The keys are the band names,
// as printed by kubectl. Every band is written, 0 included; a merge patch
// may carry only the bands that changed, so each defaults to 0.
type BandCounts struct {
	// Green is the number of accounts in the Green band.
	// +optional
	// +kubebuilder:default=0
	Green int32 `json:"Green"`
	// Yellow is the number of accounts in the Yellow band.
	// +optional
	// +kubebuilder:default=0
	Yellow int32 `json:"Yellow"`
	// Red is the number of accounts in the Red band.
	// +optional
	// +kubebuilder:default=0
	Red int32 `json:"Red"`
}

// Add adds n accounts of band b; another band is not counted.
func (c *BandCounts) Add(b Band, n int32) {
	switch b {
	case BandGreen:
		c.Green += n
	case BandYellow:
		c.Yellow += n
	case BandRed:
		c.Red += n
	}
}

// Of returns the count of band b.
func (c BandCounts) Of(b Band) int32 {
	switch b {
	case BandGreen:
		return c.Green
	case BandYellow:
		return c.Yellow
	case BandRed:
		return c.Red
	}
	return 0
}

// SuccessPlanStatus is written by the operator only.
type SuccessPlanStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// accounts is the number of accounts the plan manages.
	// +optional
	Accounts int32 `json:"accounts"`

	// stages counts the accounts per stage: every stage of the plan, and
	// Churned, is listed, with 0 when no account is in it.
	// +optional
	Stages map[string]int32 `json:"stages,omitempty"`

	// bands counts the accounts per health band, each band with its count,
	// 0 included. Accounts not scored yet are in no band.
	// +optional
	Bands BandCounts `json:"bands"`

	// mrr is the plan's total monthly recurring revenue.
	// +optional
	MRR Decimal `json:"mrr,omitempty"`

	// mrrAtRisk is the MRR of accounts that are AtRisk or Red.
	// +optional
	MRRAtRisk Decimal `json:"mrrAtRisk,omitempty"`

	// kpis are the portfolio KPIs over kpiPeriod.
	// +optional
	KPIs *KPIs `json:"kpis,omitempty"`

	// targets are spec.targets with the KPIs' actual values, in spec order.
	// +optional
	// +listType=map
	// +listMapKey=kpi
	// +kubebuilder:validation:MaxItems=10
	Targets []TargetStatus `json:"targets,omitempty"`

	// targetsMet is how many targets are met, of how many: "3/4".
	// +optional
	// +kubebuilder:validation:MaxLength=8
	TargetsMet string `json:"targetsMet,omitempty"`

	// conditions: Ready (summary), Valid and, with targets, TargetsMet.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// KPIs are portfolio figures over a period ending now. Percentages are
// rounded to one decimal for display; an undefined ratio (zero denominator)
// is omitted.
type KPIs struct {
	// period is the window of the KPIs.
	Period string `json:"period,omitempty"`
	// customerChurnRate is customers lost in the period / customers at its
	// start, in percent.
	// +optional
	CustomerChurnRate Decimal `json:"customerChurnRate,omitempty"`
	// revenueChurnRate is (churned + contraction MRR) / MRR at start, in
	// percent.
	// +optional
	RevenueChurnRate Decimal `json:"revenueChurnRate,omitempty"`
	// grossRevenueRetention is (start - churned - contraction) / start MRR,
	// in percent, never above 100.
	// +optional
	GrossRevenueRetention Decimal `json:"grossRevenueRetention,omitempty"`
	// netRevenueRetention is (start - churned - contraction + expansion) /
	// start MRR, in percent; new customers excluded.
	// +optional
	NetRevenueRetention Decimal `json:"netRevenueRetention,omitempty"`
	// quickRatio is (new + expansion MRR) / (churned + contraction MRR).
	// +optional
	QuickRatio Decimal `json:"quickRatio,omitempty"`
	// nps is the Net Promoter Score over all answers, -100 to 100.
	// +optional
	NPS Decimal `json:"nps,omitempty"`
	// csat is the percentage of satisfied answers (4-5 of 5).
	// +optional
	CSAT Decimal `json:"csat,omitempty"`
	// netEasyScore is % easy (1-2) minus % difficult (5-7) answers.
	// +optional
	NetEasyScore Decimal `json:"netEasyScore,omitempty"`
	// clv is the simple customer lifetime value: average MRR per customer x
	// gross margin / monthly customer churn rate.
	// +optional
	CLV Decimal `json:"clv,omitempty"`
	// paybackMonths is total acquisition cost / total MRR of the accounts
	// that state an acquisition cost.
	// +optional
	PaybackMonths Decimal `json:"paybackMonths,omitempty"`
}

// SuccessPlan is the customer-success model of a segment: sources, measures,
// health bands, stages and signals. Accounts pick it by reference, by label
// selector or by name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=plan,categories=customersuccess
// +kubebuilder:printcolumn:name="Accounts",type=integer,JSONPath=`.status.accounts`
// +kubebuilder:printcolumn:name="Green",type=integer,JSONPath=`.status.bands.Green`
// +kubebuilder:printcolumn:name="Yellow",type=integer,JSONPath=`.status.bands.Yellow`
// +kubebuilder:printcolumn:name="Red",type=integer,JSONPath=`.status.bands.Red`
// +kubebuilder:printcolumn:name="MRR",type=string,JSONPath=`.status.mrr`
// +kubebuilder:printcolumn:name="NRR",type=string,JSONPath=`.status.kpis.netRevenueRetention`
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.status.targetsMet`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="At Risk",type=string,JSONPath=`.status.mrrAtRisk`,priority=1
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SuccessPlan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the plan as its authors wrote it.
	// +required
	Spec SuccessPlanSpec `json:"spec"`

	// status is what the operator computed.
	// +optional
	Status SuccessPlanStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SuccessPlanList is a list of SuccessPlans.
type SuccessPlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SuccessPlan `json:"items"`
}
