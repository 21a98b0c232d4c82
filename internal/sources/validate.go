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

// checkSQL says what is wrong with an sql measure's query, as far as can
// be told without the database: it must be one SELECT (or WITH) statement
// and, when its column list is plain and names no star, select two
// columns. It is an early message, not the boundary: at each pull the
// server parses the query as one prepared statement, refusing a second
// one, and its description gives the columns.
func checkSQL(q string) string {
	body, statements, sure := sqlStatements(q)
	word := strings.ToLower(strings.Fields(body + " x")[0])
	if word != "select" && word != "with" {
		return "must be one SELECT (or WITH ... SELECT) statement"
	}
	if statements > 1 && sure {
		return "must be one statement"
	}
	if m := selectList.FindStringSubmatch(body); m != nil {
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

// sqlStatements reads q as PostgreSQL's lexer does, as far as
// statements go: quoted strings and identifiers, E'...' strings, dollar
// quotes, line and (nested) block comments. It answers q from its first
// token (leading comments and blanks removed), how many statements q
// holds (text that is only blanks, comments or semicolons is none), and
// whether the count is sure: a backslash in a plain string (which
// standard_conforming_strings off would read as an escape) or an
// unterminated quote or comment leave it unsure.
func sqlStatements(q string) (body string, statements int, sure bool) {
	sure = true
	start := -1     // the first token's offset
	pending := true // no token yet in the current statement
	ident := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	token := func(i int) {
		if start < 0 {
			start = i
		}
		if pending {
			statements++
			pending = false
		}
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == ';':
			pending = true
			i++
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(q)
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			depth := 0
			for i < len(q) {
				switch {
				case strings.HasPrefix(q[i:], "/*"):
					depth++
					i += 2
				case strings.HasPrefix(q[i:], "*/"):
					depth--
					i += 2
				default:
					i++
				}
				if depth == 0 {
					break
				}
			}
			if depth != 0 {
				sure = false
			}
		case c == '\'' || c == '"':
			token(i)
			escapes := c == '\'' && i > 0 && (q[i-1] == 'e' || q[i-1] == 'E') && (i == 1 || !ident(q[i-2]))
			closed := false
			for i++; i < len(q); i++ {
				if q[i] == '\\' && c == '\'' {
					if escapes {
						i++
						continue
					}
					sure = false
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c {
						i++
						continue
					}
					closed = true
					i++
					break
				}
			}
			if !closed {
				sure = false
			}
		case c == '$' && (i == 0 || !ident(q[i-1])):
			token(i)
			j := i + 1
			for j < len(q) && ident(q[j]) && q[j] != '$' && !(j == i+1 && q[j] >= '0' && q[j] <= '9') {
				j++
			}
			if j >= len(q) || q[j] != '$' {
				i++ // a parameter ($1) or a lone dollar
				continue
			}
			tag := q[i : j+1]
			if k := strings.Index(q[j+1:], tag); k >= 0 {
				i = j + 1 + k + len(tag)
			} else {
				sure = false
				i = len(q)
			}
		default:
			token(i)
			i++
		}
	}
	if start < 0 {
		return "", 0, sure
	}
	return q[start:], statements, sure
}
