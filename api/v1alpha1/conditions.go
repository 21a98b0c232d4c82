package v1alpha1

// Condition types, reasons and Event reasons of both kinds: one place, one
// naming scheme (XCondition, XReason), documented for `kubectl explain`
// readers and tools that match on them.

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
	// TargetsMetCondition reports whether a SuccessPlan's KPIs meet its
	// targets; its message lists the misses. Absent without targets.
	TargetsMetCondition = "TargetsMet"
)

// Condition reasons. Events use the same reasons.
const (
	// AllTargetsMetReason: every target of the plan is met (TargetsMet True).
	AllTargetsMetReason = "AllTargetsMet"
	// TargetsMissedReason: a KPI misses its target (TargetsMet False).
	TargetsMissedReason = "TargetsMissed"
	// NoKPIDataReason: no target is missed but a KPI has no value yet
	// (TargetsMet Unknown).
	NoKPIDataReason = "NoKPIData"
	// NoMatchingContactReason: an action's audience matches no contact of
	// the account; the action is recorded Skipped.
	NoMatchingContactReason = "NoMatchingContact"
	// ImportedReason: the account was placed past the action's stage on its
	// first evaluation (an imported customer); the action is recorded
	// Skipped, not sent.
	ImportedReason = "Imported"
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

// Reasons of the account's health conditions.
const (
	// MeasuresAvailableReason: every measure has a current value.
	MeasuresAvailableReason = "MeasuresAvailable"
	// MeasuresUnavailableReason: some measure is missing, failing or stale.
	MeasuresUnavailableReason = "MeasuresUnavailable"
	// NotScoredReason: no measure has a value yet.
	NotScoredReason = "NotScored"
	// AtRiskSignalReason: the plan's atRisk expression holds.
	AtRiskSignalReason = "AtRiskSignal"
	// RedBandReason: the health band is Red.
	RedBandReason = "RedBand"
	// StageOverdueReason: the account outlived its stage's maxDuration.
	StageOverdueReason = "StageOverdue"
	// NoRiskReason: no risk signal holds.
	NoRiskReason = "NoRisk"
	// ExpansionSignalReason: the plan's expansion expression holds.
	ExpansionSignalReason = "ExpansionSignal"
	// NoExpansionSignalReason: the expansion expression does not hold or is
	// not set.
	NoExpansionSignalReason = "NoExpansionSignal"
)

// Reasons of the account's Events. Each transition and each delivery is an
// Event of its own.
const (
	// BandChangedReason: the health band changed.
	BandChangedReason = "BandChanged"
	// StageEnteredReason: a new account entered the first stage.
	StageEnteredReason = "StageEntered"
	// StageExitedReason: the stage's exitWhen held; the account moved on.
	StageExitedReason = "StageExited"
	// StageJumpedReason: a later stage's enterWhen held.
	StageJumpedReason = "StageJumped"
	// ChurnedReason: the ledger reached zero through a Churn entry.
	ChurnedReason = "Churned"
	// ReactivatedReason: a churned account's ledger has MRR again.
	ReactivatedReason = "Reactivated"
	// StageRemovedReason: the account's stage is no longer in the plan; it
	// starts over in the first stage.
	StageRemovedReason = "StageRemoved"
	// ActionTriggeredReason: an action became due and was recorded.
	ActionTriggeredReason = "ActionTriggered"
	// ActionDeliveredReason: a webhook delivery succeeded.
	ActionDeliveredReason = "ActionDelivered"
	// ActionFailedReason: a webhook delivery failed for good.
	ActionFailedReason = "ActionFailed"
)
