package csvimport

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

func TestReadBuildsAnAccountPerRow(t *testing.T) {
	in := "Name,displayName,owner,segment,stage,tier,seats,currency,startDate,renewalDate,MRR,acquisitionCost,externalIDs.telemetry,externalIDs.support\n" +
		"acme,ACME S.p.A.,giulia@vendor.example,smb,Renewal,growth,50,EUR,2024-03-01,2027-03-01,2700,10000,acme-prod,48213\n" +
		"globex,,,,,,,,,,,,,\n"
	got, err := Read(strings.NewReader(in), Options{Namespace: "customers", Plan: "smb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d accounts, want 2", len(got))
	}
	want := csv1alpha1.CustomerAccountSpec{
		DisplayName: "ACME S.p.A.", Owner: "giulia@vendor.example",
		ExternalIDs:    map[string]string{"telemetry": "acme-prod", "support": "48213"},
		SuccessPlanRef: &csv1alpha1.LocalObjectReference{Name: "smb"},
		InitialStage:   "Renewal",
		Contract: csv1alpha1.Contract{Tier: "growth", Seats: 50, Currency: "EUR", StartDate: "2024-03-01", RenewalDate: "2027-03-01",
			AcquisitionCost: "10000",
			Revenue:         []csv1alpha1.LedgerEntry{{Date: "2024-03-01", Type: csv1alpha1.LedgerNew, Amount: "2700"}}},
	}
	acme := got[0]
	if acme.Name != "acme" || acme.Namespace != "customers" || acme.Labels[SegmentLabel] != "smb" || acme.Kind != "CustomerAccount" {
		t.Errorf("acme = %+v", acme.ObjectMeta)
	}
	if !equality.Semantic.DeepEqual(acme.Spec, want) {
		t.Errorf("acme spec = %+v\nwant %+v", acme.Spec, want)
	}
	globex := got[1]
	if globex.Name != "globex" || len(globex.Labels) != 0 || globex.Spec.InitialStage != "" || globex.Spec.SuccessPlanRef.Name != "smb" {
		t.Errorf("globex, empty cells but its name = %+v", globex)
	}
}

func TestReadNamesTheBadCell(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no header", "", "row 1: no header row"},
		{"no name column", "owner\nx\n", "row 1: no name column"},
		{"unknown column", "name,seat\nacme,3\n", "row 1, column seat: unknown column; the columns are name, displayName"},
		{"repeated column", "name,Seats,seats\nacme,1,2\n", "row 1, column seats: repeats column 2"},
		{"external id without a system", "name,externalIDs.\nacme,x\n", "row 1, column externalIDs.: an external id column names its system"},
		{"bad name", "name\nacme\nACME Corp\n", `row 3, column name: "ACME Corp" is not an object name`},
		{"repeated name", "name\nacme\nglobex\nacme\n", `row 4, column name: "acme" repeats row 2`},
		{"short row", "name,seats\nacme\n", "row 2: 1 cells, the header has 2"},
		{"seats", "name,seats\nacme,fifty\n", `row 2, column seats: "fifty": not a whole number of seats`},
		{"negative seats", "name,seats\nacme,-3\n", `row 2, column seats: "-3": not a whole number of seats`},
		{"date", "name,renewalDate\nacme,01/03/2027\n", `row 2, column renewalDate: "01/03/2027": not a date in the form YYYY-MM-DD`},
		{"amount", "name,startDate,mrr\nacme,2026-01-01,2.700,00\n", "row 2: 4 cells, the header has 3"},
		{"amount format", "name,startDate,mrr\nacme,2026-01-01,€2700\n", `row 2, column mrr: "€2700": not a decimal amount`},
		{"negative amount", "name,startDate,mrr\nacme,2026-01-01,-5\n", `row 2, column mrr: "-5": must not be negative`},
		{"mrr without a start", "name,mrr\nacme,2700\n", `row 2, column mrr: "2700": needs a startDate`},
		{"currency", "name,currency\nacme,euro\n", `row 2, column currency: "euro": not an ISO 4217 code`},
		{"segment", "name,segment\nacme,small business\n", `row 2, column segment: "small business": a valid label must be`},
		{"stage", "name,stage\nacme,Churned\n", `row 2, column stage: "Churned": not a stage name`},
		{"quotes", "name\n\"acme\n", "row 2: extraneous or missing \" in quoted-field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), Options{Namespace: "customers"})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with %q", err, tc.want)
			}
		})
	}
}
