package controllers

import (
	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
)

// An account's status keeps what users and the operator need, not the
// account's whole life: the Events record every transition and delivery.
// The trend samples (internal/health) and the objectives
// (internal/lifecycle) are bounded where they are computed; the history
// and the actions here.

const (
	// historyTail is how many of the newest history entries status keeps.
	historyTail = 3
	// maxHistory bounds status.history, as the API does: the tail, and the
	// two entries of the last band change and the two of the last stage
	// change when they are older.
	maxHistory = historyTail + 4
)

// appendHistory appends e and compacts the history.
func appendHistory(h []csv1alpha1.HistoryEntry, e csv1alpha1.HistoryEntry) []csv1alpha1.HistoryEntry {
	return compactHistory(append(h, e))
}

// compactHistory keeps, oldest first, the newest historyTail entries of h
// and, when they are older, the entries that tell the last band change and
// the last stage change: the entry of the change and the one before it
// with a band (a stage), which says where it came from. So the last
// change of each, from what to what, when and at which score, reads the
// same from the compacted history as from the whole one.
func compactHistory(h []csv1alpha1.HistoryEntry) []csv1alpha1.HistoryEntry {
	if len(h) <= historyTail {
		return h
	}
	keep := make([]bool, len(h))
	for i := len(h) - historyTail; i < len(h); i++ {
		keep[i] = true
	}
	keepLastChange(h, keep, func(e csv1alpha1.HistoryEntry) string { return string(e.Band) })
	keepLastChange(h, keep, func(e csv1alpha1.HistoryEntry) string { return e.Stage })
	out := make([]csv1alpha1.HistoryEntry, 0, maxHistory)
	for i, e := range h {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// keepLastChange marks the last entry of h whose value differs from the
// value before it (none before the first entry with a value), and the
// entry that value came from. Entries without a value (a stage change
// before the first score has no band) change nothing.
func keepLastChange(h []csv1alpha1.HistoryEntry, keep []bool, value func(csv1alpha1.HistoryEntry) string) {
	prev, last, from := -1, -1, -1
	for i, e := range h {
		v := value(e)
		if v == "" {
			continue
		}
		if prev < 0 || value(h[prev]) != v {
			last, from = i, prev
		}
		prev = i
	}
	if last >= 0 {
		keep[last] = true
	}
	if from >= 0 {
		keep[from] = true
	}
}

// compactActions keeps of status.actions, in their order:
//   - every Pending entry: a delivery still to make;
//   - every entry of the current stage visit, whatever its state: its key
//     is what keeps the action from firing twice in the visit;
//   - of the entries of earlier visits, which no evaluation looks up again
//     (an action's key is per visit), the one that finished last and the
//     one that last finished without being delivered (Failed or Skipped),
//     so that a failure stays visible after later deliveries.
//
// current says whether an entry belongs to the current visit.
func compactActions(list []csv1alpha1.ActionStatus, current func(csv1alpha1.ActionStatus) bool) []csv1alpha1.ActionStatus {
	lastFinished, lastUndelivered := -1, -1
	later := func(i, j int) bool { return j < 0 || !timeOf(list[i].At).Before(timeOf(list[j].At)) }
	for i, e := range list {
		if e.State == csv1alpha1.ActionPending || current(e) {
			continue
		}
		if later(i, lastFinished) {
			lastFinished = i
		}
		if e.State != csv1alpha1.ActionDelivered && later(i, lastUndelivered) {
			lastUndelivered = i
		}
	}
	var out []csv1alpha1.ActionStatus
	for i, e := range list {
		if e.State == csv1alpha1.ActionPending || current(e) || i == lastFinished || i == lastUndelivered {
			out = append(out, e)
		}
	}
	return out
}

// currentVisit says whether an action entry belongs to the account's
// current stage visit: its key is the one recordDue gives the action in
// the stage entered at status.stageEnteredAt.
func currentVisit(acct *csv1alpha1.CustomerAccount) func(csv1alpha1.ActionStatus) bool {
	st := acct.Status
	if st.StageEnteredAt == nil {
		return func(csv1alpha1.ActionStatus) bool { return false }
	}
	return func(e csv1alpha1.ActionStatus) bool {
		return e.Stage == st.Stage && e.Key == actions.Key(string(acct.UID), st.Stage, st.StageEnteredAt.Time, e.Name)
	}
}

// compactStatus bounds the lists of status that grow with the account's
// life (see compactActions and compactHistory); it leaves a status that
// is already compact as it is.
func compactStatus(acct *csv1alpha1.CustomerAccount) {
	acct.Status.Actions = compactActions(acct.Status.Actions, currentVisit(acct))
	acct.Status.History = compactHistory(acct.Status.History)
}
