package v1alpha1

// Decimal is an exact decimal number written as a string, such as "2700",
// "0.80" or "-1.5". Money and survey-derived figures use it so that no
// floating-point rounding reaches the API.
// +kubebuilder:validation:Pattern=`^-?[0-9]{1,15}(\.[0-9]{1,6})?$`
// +kubebuilder:validation:MaxLength=23
type Decimal string

// Date is a calendar day in the form YYYY-MM-DD.
// +kubebuilder:validation:Format=date
// +kubebuilder:validation:MaxLength=10
type Date string

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Condition types shared by both kinds.
const (
	// ReadyCondition summarises the other conditions; it is kstatus-compatible.
	ReadyCondition = "Ready"
	// ValidCondition reports whether a SuccessPlan's expressions compile and
	// its measures name existing sources.
	ValidCondition = "Valid"
	// MetricsAvailableCondition reports whether every measure of an account
	// has a current value.
	MetricsAvailableCondition = "MetricsAvailable"
	// HealthyCondition is True while an account's health band is Green.
	HealthyCondition = "Healthy"
	// AtRiskCondition is True while the plan's atRisk signal holds, the band
	// is Red, or the account overran its stage.
	AtRiskCondition = "AtRisk"
	// ExpansionReadyCondition is True while the plan's expansion signal holds.
	ExpansionReadyCondition = "ExpansionReady"
	// StalledCondition is True, with the reason, when only a change of the
	// spec (the account's or its plan's) can help: kstatus reports the
	// object Failed. Absent otherwise.
	StalledCondition = "Stalled"
	// ReconcilingCondition is True while an evaluation is in progress: an
	// account waiting for the first values of its remote measures, a plan
	// whose accounts are not all evaluated with its current generation.
	// kstatus reports the object InProgress. Absent otherwise.
	ReconcilingCondition = "Reconciling"
)

// Condition reasons. Events use the same reasons.
const (
	// ReconciledReason: the object was reconciled and nothing is wrong.
	ReconciledReason = "Reconciled"
	// ValidReason: every expression compiles and every measure names a source.
	ValidReason = "Valid"
	// InvalidSpecReason: the spec holds something admission could not reject.
	InvalidSpecReason = "InvalidSpec"
	// NoPlanReason: no SuccessPlan references or selects the account.
	NoPlanReason = "NoPlan"
	// PlanNotFoundReason: spec.successPlanRef names a plan that does not exist.
	PlanNotFoundReason = "PlanNotFound"
	// PlanInvalidReason: the account's plan is not Valid.
	PlanInvalidReason = "PlanInvalid"
	// SuspendedReason: spec.suspend is true; status is frozen.
	SuspendedReason = "Suspended"
	// ProgressingReason: the first evaluation has not finished yet.
	ProgressingReason = "Progressing"
	// EvaluationFailedReason: a plan expression failed at run time for the
	// account; the message names the field.
	EvaluationFailedReason = "EvaluationFailed"
)
