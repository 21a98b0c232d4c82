// Package evaluate is what the operator computes for one account under one
// plan, as pure functions, shared by the account reconciler and the kubectl
// plugin: one scoring code path, never a copy.
//
// A plan generation is compiled once into a [Model]. An evaluation then
// runs, in order: [Measures] gathers each measure's health inputs (remote
// values through a [Lookup], static ones from spec.signals, overrides and
// the previous status), [Health] scores them with the plan's health model,
// [Stage] runs the stage machine over that result, and [Signals] evaluates
// the conditions AtRisk and ExpansionReady. No function reads a clock, the
// API or the network; Events, history, status writes and requeues are the
// caller's.
package evaluate
