package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// row is one figure of the table: its name, its value for one result,
// and the goal.
type row struct {
	figure string
	value  func(r *result) string
	goal   string
}

// rows are the table's figures. Times are reported, never judged: their
// goals are ratios to the bare loop measured in the same run.
func rows(c config) []row {
	return []row{
		{"accounts evaluated (first run)", func(r *result) string { return fmt.Sprint(r.Evaluated) }, "N"},
		{"cold start, operator (s)", func(r *result) string { return seconds(median(r.OperatorStart)) }, ""},
		{"cold start, bare status loop (s)", func(r *result) string { return seconds(median(r.BareStart)) }, ""},
		{"cold start, operator / bare", func(r *result) string { return ratio(median(r.OperatorStart), median(r.BareStart)) }, "<= 1.25"},
		{"CPU per account, operator (ms)", func(r *result) string { return perAccountMS(median(r.OperatorCPU), r.N) }, ""},
		{"CPU per account, bare status loop (ms)", func(r *result) string { return perAccountMS(median(r.BareCPU), r.N) }, ""},
		{"CPU, operator / bare", func(r *result) string { return ratio(median(r.OperatorCPU), median(r.BareCPU)) }, "<= 2"},
		{"account status writes per account, operator cold start", func(r *result) string { return writesPerAccount(r) }, "1"},
		{"live heap of the manager (MB)", func(r *result) string { return mb(r.LiveHeap) }, ""},
		{"live heap of the manager, no accounts (MB)", func(r *result) string { return mb(r.EmptyHeap) }, ""},
		{"live heap per account, above no accounts (KiB)", func(r *result) string { return kib(heapPerAccount(r)) }, ""},
		{"account JSON, average (KiB)", func(r *result) string { return kib(r.JSONBytes) }, ""},
		{"live heap per account / account JSON", func(r *result) string { return fmt.Sprintf("%.1f", heapPerAccount(r)/r.JSONBytes) }, "<= 1.5"},
		{"Events per account, cold start", func(r *result) string { return eventsCell(r.ColdStartEvents, r.N) }, "<= 1"},
		{fmt.Sprintf("status writes while idle (%d intervals)", c.IdleIntervals), func(r *result) string { return writesCell(r.Idle) }, "0"},
		{fmt.Sprintf("account reconciles while idle (%d intervals)", c.IdleIntervals), func(r *result) string { return strconv.FormatInt(r.IdleReconciles, 10) }, "0"},
		{"idle CPU of the manager per 5 minutes (s)", func(r *result) string { return fmt.Sprintf("%.2f", r.IdleCPUPer5m.Seconds()) }, ""},
		{"Prometheus queries per interval", func(r *result) string { return fmt.Sprintf("%.1f", queriesPerInterval(r)) },
			fmt.Sprintf("%d (one per Prometheus measure)", promMeasures)},
		{"restart: status writes", func(r *result) string { return writesCell(r.Restart) }, "0"},
		{"restart: Events", func(r *result) string { return eventsCell(r.RestartEvents, 1) }, "0"},
		{"change-to-status latency, worst case (s)", func(r *result) string { return seconds(r.Latency) },
			fmt.Sprintf("<= interval + scrape (%s)", c.Interval+c.Scrape)},
		{"midnight: restart before it, status writes", midnightCell(func(p *midnightPass) string { return writesCell(p.Restart) }), "0"},
		{"midnight: accounts woken (stage reads daysToRenewal) / reconciles", midnightCell(func(p *midnightPass) string {
			return fmt.Sprintf("%d / %d", p.Woken, p.Reconciles)
		}), "equal"},
		{fmt.Sprintf("midnight: accounts reaching %d days to renewal / stage changes / account status writes", renewalWindow),
			midnightCell(func(p *midnightPass) string {
				return fmt.Sprintf("%d / %d / %d", p.Expected, p.StageChanges, p.Writes.accounts)
			}), "all equal"},
		{"midnight: plan status writes", midnightCell(func(p *midnightPass) string { return fmt.Sprint(p.Writes.plan) }), ""},
		{"midnight: from midnight to the last reconcile (s)", midnightCell(func(p *midnightPass) string { return seconds(p.Took) }), ""},
		{"midnight: CPU of the pass (s)", midnightCell(func(p *midnightPass) string { return fmt.Sprintf("%.2f", p.CPU.Seconds()) }), ""},
		{"midnight: CPU per woken account (ms)", midnightCell(func(p *midnightPass) string { return perAccountMS(p.CPU, max(p.Woken, 1)) }), ""},
		{"midnight: CPU per woken account / bare loop's per account", func(r *result) string {
			if !r.Midnight.Ran || r.Midnight.Woken == 0 || r.N == 0 {
				return "-"
			}
			return ratio(r.Midnight.CPU/time.Duration(r.Midnight.Woken), median(r.BareCPU)/time.Duration(r.N))
		}, ""},
	}
}

// midnightCell is a figure of the midnight pass, "-" when it did not run.
func midnightCell(f func(p *midnightPass) string) func(r *result) string {
	return func(r *result) string {
		if !r.Midnight.Ran {
			return "-"
		}
		return f(&r.Midnight)
	}
}

// heapPerAccount is the manager's live heap that the accounts add, per
// account, in bytes.
func heapPerAccount(r *result) float64 {
	return (r.LiveHeap - r.EmptyHeap) / float64(r.N)
}

// writesPerAccount is the median of the operator's account status writes
// in a cold start, per account.
func writesPerAccount(r *result) string {
	if len(r.OperatorWrites) == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", float64(median(r.OperatorWrites))/float64(r.N))
}

// queriesPerInterval is the idle window's query count per interval.
func queriesPerInterval(r *result) float64 {
	if r.IdleIntervals == 0 {
		return 0
	}
	return float64(r.IdleQueries) / float64(r.IdleIntervals)
}

// report prints the header, the table (figure | N=... | goal) and the
// notes.
func report(w io.Writer, c config, results []*result) {
	fmt.Fprintf(w, "success-operator scale benchmark: %s; interval %s, Prometheus scrape %s\n", planSummary, c.Interval, c.Scrape)
	fmt.Fprintf(w, "manager and bare status loop: --kube-api-qps %g, --kube-api-burst %d, account concurrency %d; "+
		"%d run(s) each, alternated, medians\n\n", c.QPS, c.Burst, c.Concurrency, c.Runs)
	table := [][]string{{"figure"}}
	for _, r := range results {
		table[0] = append(table[0], fmt.Sprintf("N=%d", r.N))
	}
	table[0] = append(table[0], "goal")
	for _, rw := range rows(c) {
		line := []string{rw.figure}
		for _, r := range results {
			line = append(line, rw.value(r))
		}
		table = append(table, append(line, rw.goal))
	}
	writeTable(w, table)
	var notes []string
	for _, r := range results {
		notes = append(notes, r.Notes...)
	}
	if len(notes) > 0 {
		fmt.Fprint(w, "\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// writeTable writes a Markdown table with padded columns, readable as
// printed and pasteable into the README.
func writeTable(w io.Writer, table [][]string) {
	widths := make([]int, len(table[0]))
	for _, line := range table {
		for i, cell := range line {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for i, line := range table {
		cells := make([]string, len(line))
		for j, cell := range line {
			cells[j] = cell + strings.Repeat(" ", widths[j]-len(cell))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		if i == 0 {
			for j := range cells {
				cells[j] = strings.Repeat("-", widths[j])
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
}

// writesCell is a number of writes, split by kind when there are any.
func writesCell(w writes) string {
	if w.total() == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%d accounts, %d plan)", w.total(), w.accounts, w.plan)
}

// eventsCell is a number of Events over per, with the reasons when there
// are any.
func eventsCell(e events, per int) string {
	n := fmt.Sprint(e.total())
	if per > 1 {
		n = fmt.Sprintf("%.2f", float64(e.total())/float64(per))
	}
	if e.total() == 0 {
		return n
	}
	return fmt.Sprintf("%s (%s)", n, e)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(a)/float64(b))
}

func perAccountMS(d time.Duration, n int) string {
	return fmt.Sprintf("%.3f", d.Seconds()*1000/float64(n))
}

func kib(bytes float64) string { return fmt.Sprintf("%.1f", bytes/(1<<10)) }

func mb(bytes float64) string { return fmt.Sprintf("%.1f", bytes/(1<<20)) }
