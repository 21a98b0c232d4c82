package sources

import (
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
			if _, err := ParseTemplate("url", s.HTTP.URL); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "sources").Index(i).Child("http", "url"), s.HTTP.URL, err.Error()))
			}
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
