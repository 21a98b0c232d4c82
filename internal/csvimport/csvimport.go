// Package csvimport turns a CRM's CSV export of customers into
// CustomerAccount objects, one per row, for a GitOps repository. It is
// pure: it reads a CSV stream and returns objects, or the first bad cell,
// named by row and column.
package csvimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/kpi"
)

// SegmentLabel is the label the segment column sets, the label plans
// select accounts by in the README's examples.
const SegmentLabel = "customersuccess.dev/segment"

// ExternalIDPrefix starts a column holding an external id; the rest of
// the column name is the system, as in externalIDs.support.
const ExternalIDPrefix = "externalIDs."

// column is a known column and what a cell of it sets.
type column struct {
	name string
	set  func(a *csv1alpha1.CustomerAccount, v string) error
}

// columns are the known columns, in the order the README lists them;
// cells are applied in this order (startDate before mrr).
var columns = []column{
	{"name", nil}, // metadata.name; required
	{"displayName", func(a *csv1alpha1.CustomerAccount, v string) error { a.Spec.DisplayName = v; return maxLen(v, 256) }},
	{"owner", func(a *csv1alpha1.CustomerAccount, v string) error { a.Spec.Owner = v; return maxLen(v, 256) }},
	{"segment", func(a *csv1alpha1.CustomerAccount, v string) error {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		a.Labels = map[string]string{SegmentLabel: v}
		return nil
	}},
	{"plan", func(a *csv1alpha1.CustomerAccount, v string) error {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		a.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: v}
		return nil
	}},
	{"stage", func(a *csv1alpha1.CustomerAccount, v string) error {
		if !stageName.MatchString(v) || v == csv1alpha1.StageChurned {
			return errors.New("not a stage name (a letter, then letters, digits or dashes; not Churned)")
		}
		a.Spec.InitialStage = v
		return nil
	}},
	{"tier", func(a *csv1alpha1.CustomerAccount, v string) error { a.Spec.Contract.Tier = v; return maxLen(v, 63) }},
	{"seats", func(a *csv1alpha1.CustomerAccount, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return errors.New("not a whole number of seats")
		}
		a.Spec.Contract.Seats = int32(n)
		return nil
	}},
	{"currency", func(a *csv1alpha1.CustomerAccount, v string) error {
		if !currency.MatchString(v) {
			return errors.New("not an ISO 4217 code such as EUR")
		}
		a.Spec.Contract.Currency = v
		return nil
	}},
	{"startDate", func(a *csv1alpha1.CustomerAccount, v string) error {
		a.Spec.Contract.StartDate = csv1alpha1.Date(v)
		return date(v)
	}},
	{"renewalDate", func(a *csv1alpha1.CustomerAccount, v string) error {
		a.Spec.Contract.RenewalDate = csv1alpha1.Date(v)
		return date(v)
	}},
	{"mrr", func(a *csv1alpha1.CustomerAccount, v string) error {
		if err := amount(v); err != nil {
			return err
		}
		// startDate is set by then: cells are applied in columns' order.
		if a.Spec.Contract.StartDate == "" {
			return errors.New("needs a startDate: the MRR enters the ledger as New on that day")
		}
		a.Spec.Contract.Revenue = []csv1alpha1.LedgerEntry{
			{Date: a.Spec.Contract.StartDate, Type: csv1alpha1.LedgerNew, Amount: csv1alpha1.Decimal(v)}}
		return nil
	}},
	{"acquisitionCost", func(a *csv1alpha1.CustomerAccount, v string) error {
		a.Spec.Contract.AcquisitionCost = csv1alpha1.Decimal(v)
		return amount(v)
	}},
}

var (
	stageName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,62}$`)
	currency  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Options are what every row shares.
type Options struct {
	// Namespace of every account.
	Namespace string
	// Plan is the successPlanRef of rows without a plan column; "" leaves
	// the choice to the plans' selectors.
	Plan string
}

// Error is a bad cell: Row counts from 1 for the header, as a spreadsheet
// shows it.
type Error struct {
	Row    int
	Column string
	Err    error
}

func (e *Error) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %v", e.Row, e.Err)
	}
	return fmt.Sprintf("row %d, column %s: %v", e.Row, e.Column, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Read reads a CSV export with a header row and returns an account per
// row, in the rows' order. Column names are matched without regard to
// case; empty cells set nothing. The first bad cell, an unknown column, a
// row without a name or a name that repeats stops it with an *Error.
func Read(r io.Reader, opts Options) ([]*csv1alpha1.CustomerAccount, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // short rows are reported below, by row
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Row: 1, Err: errors.New("no header row")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	order, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	var out []*csv1alpha1.CustomerAccount
	seen := map[string]int{}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		if len(rec) != len(header) {
			return nil, &Error{Row: row, Err: fmt.Errorf("%d cells, the header has %d", len(rec), len(header))}
		}
		a, err := account(rec, header, order, opts)
		if err != nil {
			err.(*Error).Row = row
			return nil, err
		}
		if first, ok := seen[a.Name]; ok {
			return nil, &Error{Row: row, Column: header[order.name], Err: fmt.Errorf("%q repeats row %d", a.Name, first)}
		}
		seen[a.Name] = row
		out = append(out, a)
	}
}

// layout is where each known column is in a row.
type layout struct {
	name  int            // index of the name column
	known [][2]int       // {index in columns, index in the row}, in columns' order
	ids   map[int]string // index in the row -> external id system
}

// parseHeader maps the header's cells to known columns.
func parseHeader(header []string) (layout, error) {
	l := layout{name: -1, ids: map[int]string{}}
	used := map[string]int{}
	for i, cell := range header {
		cell = strings.TrimSpace(cell)
		key := strings.ToLower(cell)
		if prev, ok := used[key]; ok {
			return l, &Error{Row: 1, Column: cell, Err: fmt.Errorf("repeats column %d", prev+1)}
		}
		used[key] = i
		if system, ok := cutPrefixFold(cell, ExternalIDPrefix); ok {
			if system == "" || len(system) > 63 {
				return l, &Error{Row: 1, Column: cell, Err: errors.New("an external id column names its system, as in externalIDs.support")}
			}
			l.ids[i] = system
			continue
		}
		c := slices.IndexFunc(columns, func(c column) bool { return strings.EqualFold(c.name, cell) })
		switch {
		case c < 0:
			return l, &Error{Row: 1, Column: cell, Err: fmt.Errorf("unknown column; the columns are %s and %s<system>", knownColumns(), ExternalIDPrefix)}
		case columns[c].name == "name":
			l.name = i
		default:
			l.known = append(l.known, [2]int{c, i})
		}
	}
	if l.name < 0 {
		return l, &Error{Row: 1, Err: errors.New("no name column")}
	}
	slices.SortFunc(l.known, func(a, b [2]int) int { return a[0] - b[0] })
	return l, nil
}

// account builds one row's account; the error is an *Error without a row.
func account(rec, header []string, l layout, opts Options) (*csv1alpha1.CustomerAccount, error) {
	a := &csv1alpha1.CustomerAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: csv1alpha1.GroupVersion.String(), Kind: "CustomerAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: strings.TrimSpace(rec[l.name]), Namespace: opts.Namespace},
	}
	if errs := validation.IsDNS1123Subdomain(a.Name); len(errs) > 0 {
		return nil, &Error{Column: header[l.name], Err: fmt.Errorf("%q is not an object name: %s", a.Name, strings.Join(errs, "; "))}
	}
	if opts.Plan != "" {
		a.Spec.SuccessPlanRef = &csv1alpha1.LocalObjectReference{Name: opts.Plan}
	}
	for _, k := range l.known {
		v := strings.TrimSpace(rec[k[1]])
		if v == "" {
			continue
		}
		if err := columns[k[0]].set(a, v); err != nil {
			return nil, &Error{Column: header[k[1]], Err: fmt.Errorf("%q: %w", v, err)}
		}
	}
	for i, system := range l.ids {
		if v := strings.TrimSpace(rec[i]); v != "" {
			if a.Spec.ExternalIDs == nil {
				a.Spec.ExternalIDs = map[string]string{}
			}
			a.Spec.ExternalIDs[system] = v
		}
	}
	if len(a.Spec.ExternalIDs) > 32 {
		return nil, &Error{Err: errors.New("more than 32 external ids")}
	}
	return a, nil
}

func knownColumns() string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func maxLen(v string, n int) error {
	if len(v) > n {
		return fmt.Errorf("longer than %d characters", n)
	}
	return nil
}

func date(v string) error {
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return errors.New("not a date in the form YYYY-MM-DD")
	}
	return nil
}

func amount(v string) error {
	r, err := kpi.ParseDecimal(v)
	if err != nil || len(v) > 23 {
		return errors.New("not a decimal amount such as 2700 or 2700.50")
	}
	if r.Sign() < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

// csvError turns the CSV reader's parse error into an *Error on its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{Row: pe.StartLine, Err: pe.Err}
	}
	return err
}
