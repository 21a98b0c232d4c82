package sources

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
)

// ValidatePlan checks what the CRD schema cannot: that every measure names
// one of the plan's sources and carries the field that source kind reads
// (query, jsonPath or key), and that URL templates and JSONPaths parse.
func ValidatePlan(spec *csv1alpha1.SuccessPlanSpec) field.ErrorList {
	var errs field.ErrorList
	byName := make(map[string]*csv1alpha1.Source, len(spec.Sources))
	for i := range spec.Sources {
		s := &spec.Sources[i]
		byName[s.Name] = s
		if s.HTTP != nil {
			errs = append(errs, validateHTTP(field.NewPath("spec", "sources").Index(i).Child("http"), s.HTTP)...)
		}
	}
	for i, m := range spec.Measures {
		path := field.NewPath("spec", "measures").Index(i)
		src, ok := byName[m.Source]
		switch {
		case !ok:
			errs = append(errs, field.NotFound(path.Child("source"), m.Source))
		case src.Prometheus != nil && m.Query == "":
			errs = append(errs, field.Required(path.Child("query"), "source "+m.Source+" is a prometheus source"))
		case src.Prometheus != nil && strings.Contains(m.Query, "{{"):
			if _, err := ParseTemplate("query", m.Query); err != nil {
				errs = append(errs, field.Invalid(path.Child("query"), m.Query, err.Error()))
			}
		case src.SQL != nil && m.Query == "":
			errs = append(errs, field.Required(path.Child("query"), "source "+m.Source+" is an sql source"))
		case src.SQL != nil:
			if msg := checkSQL(m.Query); msg != "" {
				errs = append(errs, field.Invalid(path.Child("query"), m.Query, msg))
			}
		case src.HTTP != nil && m.JSONPath == "":
			errs = append(errs, field.Required(path.Child("jsonPath"), "source "+m.Source+" is an http source"))
		case src.HTTP != nil:
			if err := jsonpath.New(m.Name).Parse(m.JSONPath); err != nil {
				errs = append(errs, field.Invalid(path.Child("jsonPath"), m.JSONPath, err.Error()))
			}
		case src.Static != nil && m.Key == "":
			errs = append(errs, field.Required(path.Child("key"), "source "+m.Source+" is a static source"))
		}
	}
	return errs
}

// validateHTTP checks an http source's URL template and JSONPaths.
func validateHTTP(path *field.Path, h *csv1alpha1.HTTPSource) field.ErrorList {
	var errs field.ErrorList
	if _, err := ParseTemplate("url", h.URL); err != nil {
		errs = append(errs, field.Invalid(path.Child("url"), h.URL, err.Error()))
	}
	for _, p := range []struct{ name, path string }{{"itemsPath", h.ItemsPath}, {"keyPath", h.KeyPath}} {
		if p.path == "" {
			continue
		}
		if err := jsonpath.New(p.name).Parse(p.path); err != nil {
			errs = append(errs, field.Invalid(path.Child(p.name), p.path, err.Error()))
		}
	}
	return errs
}

// selectList is a query that plainly selects a list of columns: no
// parenthesis, quote, comment or division before its FROM, so that its
// columns can be counted.
var selectList = regexp.MustCompile(`(?is)^\s*select\s+(?:distinct\s+)?([^()'"/-]*?)\s+from\s`)

// checkSQL says what is wrong with an sql measure's query, as far as its
// text plainly tells: it must be one SELECT (or WITH) statement and, when
// its column list is plain and names no star, select two columns. It is
// an early message, not the boundary: at each pull the server parses the
// query as one prepared statement, refusing a second one however quotes,
// comments or dollar quotes hide it, and its description gives the
// columns.
func checkSQL(q string) string {
	word := strings.ToLower(strings.Fields(q + " x")[0])
	if word != "select" && word != "with" {
		return "must be one SELECT (or WITH ... SELECT) statement"
	}
	body := strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
	if strings.Contains(body, ";") && !strings.ContainsAny(body, `'"$`) &&
		!strings.Contains(body, "--") && !strings.Contains(body, "/*") {
		return "must be one statement"
	}
	if m := selectList.FindStringSubmatch(q); m != nil {
		items := strings.Split(m[1], ",")
		for _, item := range items {
			if item = strings.TrimSpace(item); item == "*" || strings.HasSuffix(item, ".*") {
				return "" // the database knows how many columns a star names
			}
		}
		if n := len(items); n != 2 {
			return fmt.Sprintf("selects %d columns, want 2: the account key, then the value", n)
		}
	}
	return ""
}
