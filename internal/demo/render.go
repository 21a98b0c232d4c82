package demo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/template"
	"time"
)

// Values fill the demo manifests' templates.
type Values struct {
	// PrometheusURL is the base URL of the Prometheus scraping the simulator.
	PrometheusURL string
	// WebhookURL receives the plans' actions.
	WebhookURL string
	// SupportDeskURL serves the support desk's export.
	SupportDeskURL string
	// WarehouseDSN and WarehousePassword are the warehouse's read-only
	// login.
	WarehouseDSN, WarehousePassword string
	// Now anchors the relative dates of contracts and ledgers.
	Now time.Time
}

// Render executes every *.yaml template of dir, in name order, into one
// multi-document stream for kubectl apply. Templates use the fields of
// Values ({{ .PrometheusURL }} and so on), {{ daysAgo N }} and
// {{ daysFromNow N }} (dates as YYYY-MM-DD).
func Render(dir string, v Values) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	funcs := template.FuncMap{
		"daysAgo":     func(n int) string { return v.Now.AddDate(0, 0, -n).Format(time.DateOnly) },
		"daysFromNow": func(n int) string { return v.Now.AddDate(0, 0, n).Format(time.DateOnly) },
	}
	var out bytes.Buffer
	for _, f := range files {
		if filepath.Base(f) == "telemetry.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := template.New(filepath.Base(f)).Funcs(funcs).Option("missingkey=error").Parse(string(data))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n", filepath.Base(f))
		if err := t.Execute(&out, v); err != nil {
			return nil, err
		}
		out.WriteString("\n")
	}
	return out.Bytes(), nil
}
