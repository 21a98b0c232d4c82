package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CustomerAccountSpec is one customer: its contract, its MRR ledger, the
// identifiers sources use to find it, and the judgement of its CSM. It is
// written by people, a CRM sync or Git; never by the operator.
type CustomerAccountSpec struct {
	// displayName is the customer's name as people write it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// owner is the customer-success manager responsible for the account,
	// usually an e-mail address.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Owner string `json:"owner,omitempty"`

	// externalIDs are the account's identifiers in other systems, keyed by
	// system (for example telemetry, support, crm). Sources use them: a
	// Prometheus source matches its accountLabel against externalIDs.telemetry,
	// and URL templates read them as {{ .ExternalIDs.support }}.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	ExternalIDs map[string]string `json:"externalIDs,omitempty"`

	// successPlanRef names the SuccessPlan, in the same namespace, that
	// manages this account. When empty, the plan with the highest priority
	// whose accountSelector or accounts list selects the account is used;
	// ties go to the plan whose name sorts first.
	// +optional
	SuccessPlanRef *LocalObjectReference `json:"successPlanRef,omitempty"`

	// initialStage is the stage of its plan an account is placed in on its
	// first evaluation, for a customer imported with its history; without
	// it the account starts in the first stage, or the furthest stage whose
	// enterWhen holds. The actions of the stages before the one it is
	// placed in are recorded Skipped, reason Imported, not sent. Once the
	// account has a stage, initialStage has no effect.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]{0,62}$`
	InitialStage string `json:"initialStage,omitempty"`

	// suspend stops evaluation of the account: no pulls, stage moves or
	// actions. Its status keeps the last values, with Ready=False, reason
	// Suspended, until suspend is cleared.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// contract holds the commercial facts of the account.
	// +optional
	Contract Contract `json:"contract,omitzero"`

	// overrides are a CSM's values for measures, each with a reason, an
	// author and an expiry. An override wins over the measured value until it
	// expires; it then stops applying on its own. At most one per measure.
	// +optional
	// +listType=map
	// +listMapKey=measure
	// +kubebuilder:validation:MaxItems=32
	Overrides []Override `json:"overrides,omitempty"`

	// signals are inputs no source exposes; a plan's static source reads them.
	// +optional
	Signals Signals `json:"signals,omitzero"`

	// contacts are the people at the customer whom the plays reach, each
	// with a role: an action with an audience is delivered with the
	// matching contacts. Contact data is personal data: the operator sends
	// it to webhooks only, never to Events, logs or metrics.
	// +optional
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=50
	Contacts []Contact `json:"contacts,omitempty"`
}

// Contact is one person at the customer.
type Contact struct {
	// name of the person.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// email address of the person, bare and lowercase (ada@example.com);
	// one contact per address.
	// +required
	// +kubebuilder:validation:Format=email
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9._%+-]+@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')",message="must be a bare lowercase address such as ada@example.com"
	Email string `json:"email"`

	// role of the person in the customer's buying and using of the product.
	// +required
	Role ContactRole `json:"role"`

	// persona is a free label for content fitted to the person (for
	// example data-engineer).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Persona string `json:"persona,omitempty"`
}

// ContactRole is a contact's role at the customer.
// +kubebuilder:validation:Enum=DecisionMaker;Champion;User;Admin;Billing;ExecutiveSponsor
type ContactRole string

// Contact roles.
const (
	RoleDecisionMaker    ContactRole = "DecisionMaker"
	RoleChampion         ContactRole = "Champion"
	RoleUser             ContactRole = "User"
	RoleAdmin            ContactRole = "Admin"
	RoleBilling          ContactRole = "Billing"
	RoleExecutiveSponsor ContactRole = "ExecutiveSponsor"
)

// Contract is the commercial side of an account.
// +kubebuilder:validation:XValidation:rule="!has(self.renewalDate) || !has(self.startDate) || self.renewalDate > self.startDate",message="renewalDate must be after startDate",fieldPath=".renewalDate"
type Contract struct {
	// tier is the commercial plan the customer bought (for example growth).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier,omitempty"`

	// seats is the number of seats the contract includes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Seats int32 `json:"seats,omitempty"`

	// currency is the ISO 4217 code of every amount of the account.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency,omitempty"`

	// startDate is the first day of the contract (YYYY-MM-DD).
	// +optional
	StartDate Date `json:"startDate,omitempty"`

	// renewalDate is the day the contract renews (YYYY-MM-DD).
	// +optional
	RenewalDate Date `json:"renewalDate,omitempty"`

	// acquisitionCost is what winning the customer cost, in currency; with
	// the MRR it gives the CAC payback in months.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-')",message="must not be negative"
	AcquisitionCost Decimal `json:"acquisitionCost,omitempty"`

	// revenue is the MRR ledger: every change of monthly recurring revenue,
	// oldest first. The current MRR is its signed sum (New, Expansion and
	// Reactivation add; Contraction and Churn subtract). An account whose
	// ledger reaches zero through Churn is Churned and kept for the KPIs.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Revenue []LedgerEntry `json:"revenue,omitempty"`
}

// LedgerEntryType is the kind of an MRR change.
// +kubebuilder:validation:Enum=New;Expansion;Contraction;Churn;Reactivation
type LedgerEntryType string

// Ledger entry types.
const (
	LedgerNew          LedgerEntryType = "New"
	LedgerExpansion    LedgerEntryType = "Expansion"
	LedgerContraction  LedgerEntryType = "Contraction"
	LedgerChurn        LedgerEntryType = "Churn"
	LedgerReactivation LedgerEntryType = "Reactivation"
)

// LedgerEntry is one change of monthly recurring revenue.
type LedgerEntry struct {
	// date is the day the change took effect (YYYY-MM-DD).
	// +required
	Date Date `json:"date"`

	// type is the kind of change: New, Expansion, Contraction, Churn or
	// Reactivation.
	// +required
	Type LedgerEntryType `json:"type"`

	// amount is the size of the change in monthly revenue, always positive;
	// the type gives the sign.
	// +required
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-')",message="amount must not be negative: the type gives the sign"
	Amount Decimal `json:"amount"`
}

// Override is a CSM's value for one measure.
type Override struct {
	// measure is the name of the plan measure this value replaces.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Measure string `json:"measure"`

	// value replaces the measured value, before normalisation.
	// +required
	Value Decimal `json:"value"`

	// reason says why the CSM overrides the data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// author is who set the override.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Author string `json:"author,omitempty"`

	// expires is the moment the override stops applying (RFC 3339).
	// +required
	Expires metav1.Time `json:"expires"`
}

// Signals are an account's inputs that no source exposes.
type Signals struct {
	// values are named numbers, such as the CSM's sentiment (1-5), read by a
	// static source's measures through their key.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Values map[string]Decimal `json:"values,omitempty"`

	// surveys are answer counts per score; a static source turns them into
	// the keys nps, csat and ces (Net Easy Score).
	// +optional
	Surveys Surveys `json:"surveys,omitzero"`
}

// Surveys holds the answer counts of the three standard surveys. Entry i is
// the number of answers with the i-th possible score.
type Surveys struct {
	// nps holds 11 counts, for the scores 0 to 10. NPS is the percentage of
	// promoters (9-10) minus the percentage of detractors (0-6).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=11
	// +kubebuilder:validation:MaxItems=11
	// +kubebuilder:validation:items:Minimum=0
	NPS []int32 `json:"nps,omitempty"`

	// csat holds 5 counts, for the scores 1 to 5. CSAT is the percentage of
	// answers that are 4 or 5.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=5
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:Minimum=0
	CSAT []int32 `json:"csat,omitempty"`

	// ces holds 7 counts, for the scores 1 (extremely easy) to 7 (extremely
	// difficult). The Net Easy Score is the percentage of easy answers (1-2)
	// minus the percentage of difficult ones (5-7).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=7
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:validation:items:Minimum=0
	CES []int32 `json:"ces,omitempty"`
}

// Band is a health band.
// +kubebuilder:validation:Enum=Green;Yellow;Red
type Band string

// Health bands.
const (
	BandGreen  Band = "Green"
	BandYellow Band = "Yellow"
	BandRed    Band = "Red"
)

// Trend is the direction of the health score against a trend window ago.
// +kubebuilder:validation:Enum=Up;Down;Flat
type Trend string

// Trends.
const (
	TrendUp   Trend = "Up"
	TrendDown Trend = "Down"
	TrendFlat Trend = "Flat"
)

// StageChurned is the terminal stage of an account whose ledger reached zero
// MRR through Churn. It is not declared in plans.
const StageChurned = "Churned"

// PlanField selects accounts by the plan that manages them, as in
// `kubectl get customeraccounts --field-selector status.plan=smb`: the API
// server serves it, and the operator's cache indexes it.
const PlanField = "status.plan"

// CustomerAccountStatus is written by the operator only.
type CustomerAccountStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// plan is the name of the SuccessPlan that manages the account.
	// +optional
	Plan string `json:"plan,omitempty"`

	// stage is the lifecycle stage of the account in its plan, or Churned.
	// +optional
	Stage string `json:"stage,omitempty"`

	// stageEnteredAt is when the account entered its stage.
	// +optional
	StageEnteredAt *metav1.Time `json:"stageEnteredAt,omitempty"`

	// mrr is the current monthly recurring revenue: the signed sum of the
	// ledger.
	// +optional
	MRR Decimal `json:"mrr,omitempty"`

	// health is the account's health index and how it was computed.
	// +optional
	Health *HealthStatus `json:"health,omitempty"`

	// history records changes of health band or stage, newest last. It
	// keeps the 3 newest and, when they are older, the entries that tell
	// the last band change and the last stage change (each with the entry
	// before it, which says where it came from): at most 7. The Events
	// (BandChanged, StageExited, ...) record every change but an account's
	// first placement.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=7
	History []HistoryEntry `json:"history,omitempty"`

	// objectives are the state of the objectives of the current stage
	// visit; they leave with the stage.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Objectives []ObjectiveStatus `json:"objectives,omitempty"`

	// actions are the deliveries of the plan's actions to this account:
	// every entry of the current stage visit, every Pending entry, and of
	// earlier visits the entry that finished last and the one that last
	// finished Failed or Skipped. The Events (ActionTriggered,
	// ActionDelivered, ActionFailed, NoMatchingContact) record every
	// delivery.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Actions []ActionStatus `json:"actions,omitempty"`

	// conditions: Ready (summary), MetricsAvailable, Healthy, AtRisk,
	// ExpansionReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// HealthStatus is an explainable health index.
type HealthStatus struct {
	// score is the weighted health score, 0 to 100.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Score int32 `json:"score"`

	// band is Green, Yellow or Red, from the plan's band thresholds with
	// hysteresis.
	Band Band `json:"band,omitempty"`

	// planGeneration is the generation of the SuccessPlan whose scoring
	// model produced this score.
	// +optional
	PlanGeneration int64 `json:"planGeneration,omitempty"`

	// trend compares the score with the score one trend window ago.
	// +optional
	Trend Trend `json:"trend,omitempty"`

	// measures explain the score, one entry per plan measure.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Measures []MeasureStatus `json:"measures,omitempty"`

	// samples are the score changes the trend needs: the last one at or
	// before the start of the trend window, which the trend compares with,
	// and within the window the newest of each quarter of it (quarters
	// aligned on fixed moments, so that a sample stays until it leaves the
	// window), without repeats. The trend thus compares with the score at
	// the window start or, when the score changed again later in the same
	// quarter, with the score just before that quarter. Appended only when
	// the score changes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=6
	Samples []ScoreSample `json:"samples,omitempty"`
}

// ScoreSample is a health score from a moment on.
type ScoreSample struct {
	// at is when the score took this value.
	At metav1.Time `json:"at"`
	// score is the health score from then on.
	Score int32 `json:"score"`
}

// MeasureStatus is one measure's part in the health score.
type MeasureStatus struct {
	// name of the plan measure.
	Name string `json:"name"`

	// value is the raw value used, before normalisation.
	// +optional
	Value Decimal `json:"value,omitempty"`

	// score is the measure's score, 0 to 100.
	// +optional
	Score int32 `json:"score"`

	// weight is the measure's weight in the plan.
	// +optional
	Weight int32 `json:"weight"`

	// contribution is the number of score points this measure contributes,
	// rounded to one decimal.
	// +optional
	Contribution float64 `json:"contribution,omitempty"`

	// source is the name of the plan source the value came from.
	// +optional
	Source string `json:"source,omitempty"`

	// observedAt is when the source last returned the value.
	// +optional
	ObservedAt *metav1.Time `json:"observedAt,omitempty"`

	// error says why the last pull failed; it never holds a response body.
	// +optional
	Error string `json:"error,omitempty"`

	// stale is true when the value is older than the measure's staleAfter
	// (default: three plan intervals).
	// +optional
	Stale bool `json:"stale,omitempty"`

	// overridden is true when a CSM override supplies the value.
	// +optional
	Overridden bool `json:"overridden,omitempty"`
}

// HistoryEntry records a change of band or stage.
type HistoryEntry struct {
	// at is when the change happened.
	At metav1.Time `json:"at"`
	// score is the health score at that moment.
	// +optional
	Score int32 `json:"score"`
	// band is the health band at that moment.
	// +optional
	Band Band `json:"band,omitempty"`
	// stage is the lifecycle stage at that moment.
	// +optional
	Stage string `json:"stage,omitempty"`
}

// ObjectiveState is the state of a stage objective.
// +kubebuilder:validation:Enum=Pending;Achieved;Overdue
type ObjectiveState string

// Objective states.
const (
	ObjectivePending  ObjectiveState = "Pending"
	ObjectiveAchieved ObjectiveState = "Achieved"
	ObjectiveOverdue  ObjectiveState = "Overdue"
)

// ObjectiveStatus is the state of one objective of one stage.
type ObjectiveStatus struct {
	// name of the objective.
	Name string `json:"name"`
	// stage the objective belongs to.
	Stage string `json:"stage"`
	// state is Pending, Achieved or Overdue.
	State ObjectiveState `json:"state"`
	// at is when the state last changed.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
}

// ActionState is the delivery state of an action.
// +kubebuilder:validation:Enum=Pending;Delivered;Failed;Skipped
type ActionState string

// Action states.
const (
	ActionPending   ActionState = "Pending"
	ActionDelivered ActionState = "Delivered"
	ActionFailed    ActionState = "Failed"
	// ActionSkipped is an action not sent, for the reason in its message
	// (an audience that matches no contact).
	ActionSkipped ActionState = "Skipped"
)

// ActionStatus is one delivery of one action to this account.
type ActionStatus struct {
	// name of the action.
	Name string `json:"name"`
	// stage whose entry started the action.
	Stage string `json:"stage"`
	// key is the idempotency key of the delivery; a retry reuses it.
	Key string `json:"key"`
	// state is Pending, Delivered, Failed or Skipped.
	State ActionState `json:"state"`
	// at is when the state last changed.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
	// attempts counts delivery attempts; each is counted when it is
	// claimed, right before its request leaves.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// reason says why an entry is Skipped: NoMatchingContact (its audience
	// reaches no contact) or Imported (the account was placed past its
	// stage on its first evaluation).
	// +optional
	Reason string `json:"reason,omitempty"`
	// message says why the last attempt failed or why the entry was
	// skipped; never a response body.
	// +optional
	Message string `json:"message,omitempty"`
}

// CustomerAccount is one customer managed by a SuccessPlan: its contract and
// MRR ledger in spec, its health, stage and actions in status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=acct,categories=customersuccess
// +kubebuilder:selectablefield:JSONPath=`.status.plan`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.status.plan`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.status.stage`
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=`.status.health.band`
// +kubebuilder:printcolumn:name="Score",type=integer,JSONPath=`.status.health.score`
// +kubebuilder:printcolumn:name="Trend",type=string,JSONPath=`.status.health.trend`
// +kubebuilder:printcolumn:name="MRR",type=string,JSONPath=`.status.mrr`
// +kubebuilder:printcolumn:name="Renewal",type=string,JSONPath=`.spec.contract.renewalDate`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CustomerAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the account as its owners describe it.
	// +required
	Spec CustomerAccountSpec `json:"spec"`

	// status is what the operator computed.
	// +optional
	Status CustomerAccountStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CustomerAccountList is a list of CustomerAccounts.
type CustomerAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomerAccount `json:"items"`
}
