package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestReferenceUpToDate fails when docs/reference.md no longer matches the
// CRDs, so that make test catches a stale reference.
func TestReferenceUpToDate(t *testing.T) {
	got, err := renderDir("../../config/crd/bases")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatalf("docs/reference.md is stale: run make docs (%v)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/reference.md is stale: run make docs\n%s", firstDifference(string(want), string(got)))
	}
}

// firstDifference describes the first line where the committed reference
// (want) and the rendered one (got) differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl || (i < len(w)) != (i < len(g)) {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  committed: " + wl + "\n  rendered:  " + gl
		}
	}
	return "the files differ"
}

func TestFieldRendering(t *testing.T) {
	tests := []struct {
		name           string
		schema         string
		wantType       string
		wantValidation []string
		wantDefault    string
	}{{
		name:     "string with format and bounds",
		schema:   "{type: string, format: date, minLength: 1, maxLength: 10}",
		wantType: "string (date)",
		wantValidation: []string{
			"minLength: 1", "maxLength: 10",
		},
	}, {
		name:           "enum and default",
		schema:         `{type: string, enum: [Redistribute, Zero, "True"], default: Zero}`,
		wantType:       "string",
		wantValidation: []string{"enum: `Redistribute`, `Zero`, `True`"},
		wantDefault:    "`\"Zero\"`",
	}, {
		name:     "integer with bounds",
		schema:   "{type: integer, format: int32, minimum: 0, maximum: 100, exclusiveMaximum: true, default: 70}",
		wantType: "integer (int32)",
		wantValidation: []string{
			"minimum: 0", "maximum: 100 (exclusive)",
		},
		wantDefault: "`70`",
	}, {
		name:           "number",
		schema:         "{type: number, multipleOf: 0.5}",
		wantType:       "number",
		wantValidation: []string{"multiple of: 0.5"},
	}, {
		name:     "pattern with a pipe",
		schema:   `{type: string, pattern: '^(ms|s)$'}`,
		wantType: "string",
		wantValidation: []string{
			"pattern: `^(ms|s)$`",
		},
	}, {
		name:     "list map of objects with rules on the items",
		schema:   "{type: array, maxItems: 16, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: [name], items: {type: object, properties: {name: {type: string}}, x-kubernetes-validations: [{rule: self.name != 'x', message: name must not be x}]}}",
		wantType: "array of object",
		wantValidation: []string{
			"maxItems: 16", "list type: map (keys: `name`)", "items: rule: name must not be x",
		},
	}, {
		name:     "set of bounded strings",
		schema:   "{type: array, x-kubernetes-list-type: set, items: {type: string, maxLength: 253}}",
		wantType: "array of string",
		wantValidation: []string{
			"list type: set", "items: maxLength: 253",
		},
	}, {
		name:     "array of arrays",
		schema:   "{type: array, items: {type: array, items: {type: integer, format: int64}}}",
		wantType: "array of array of integer (int64)",
	}, {
		name:     "map of decimals",
		schema:   "{type: object, maxProperties: 64, additionalProperties: {type: string, pattern: '^[0-9]+$'}}",
		wantType: "map of string",
		wantValidation: []string{
			"maxProperties: 64", "values: pattern: `^[0-9]+$`",
		},
	}, {
		name:     "atomic object with a rule without message",
		schema:   "{type: object, x-kubernetes-map-type: atomic, properties: {a: {type: boolean}}, x-kubernetes-validations: [{rule: \"has(self.a)\"}], default: {a: true}}",
		wantType: "object",
		wantValidation: []string{
			"map type: atomic", "rule: `has(self.a)`",
		},
		wantDefault: "`{\"a\":true}`",
	}, {
		name:     "int or string",
		schema:   "{x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}",
		wantType: "integer or string",
	}, {
		name:     "free-form object",
		schema:   "{type: object, x-kubernetes-preserve-unknown-fields: true}",
		wantType: "object (free-form)",
	}, {
		name:     "map of anything",
		schema:   "{type: object, additionalProperties: true}",
		wantType: "map of any",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s schema
			if err := yaml.Unmarshal([]byte(tt.schema), &s); err != nil {
				t.Fatal(err)
			}
			if got := typeOf(&s); got != tt.wantType {
				t.Errorf("type = %q, want %q", got, tt.wantType)
			}
			got := validations(&s)
			if strings.Join(got, "\n") != strings.Join(tt.wantValidation, "\n") {
				t.Errorf("validations = %q, want %q", got, tt.wantValidation)
			}
			if r := fieldRow("f", &s, false); r.def != tt.wantDefault {
				t.Errorf("default = %q, want %q", r.def, tt.wantDefault)
			}
		})
	}
}

const testCRD = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
  names:
    kind: Widget
    plural: widgets
    shortNames: [wd]
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Mode, type: string, jsonPath: .spec.mode, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                description: |-
                  size is a <number> of
                  parts | pieces.
              parts:
                type: array
                items:
                  type: object
                  description: Part is one part.
                  properties:
                    name: {type: string}
              labels:
                type: object
                additionalProperties:
                  type: object
                  properties:
                    value: {type: string}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
`

func TestRender(t *testing.T) {
	crds, err := parseCRDs([]byte(testCRD))
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 {
		t.Fatalf("parsed %d CRDs, want 1", len(crds))
	}
	doc := string(render(crds))
	for _, want := range []string{
		"generated by `make docs`",
		"## Widget (example.dev/v1)",
		"- Scope: Cluster",
		"- Short names: `wd`",
		"| Size | `.spec.size` | integer | no |",
		"| Mode | `.spec.mode` | string | yes |",
		"| `spec` | object | no |  |  |  |",
		"| `spec.size` | integer | yes |  |  | size is a &lt;number> of parts \\| pieces. |",
		"### `spec.labels.*`",
		"| `spec.labels.*.value` | string | no |",
		"### `spec.parts[]`\n\nPart is one part.\n",
		"| `spec.parts[].name` | string | no |",
	} {
		if !strings.Contains(strings.ToLower(doc), strings.ToLower(want)) {
			t.Errorf("reference lacks %q:\n%s", want, doc)
		}
	}
	// Depth first, alphabetical.
	order := []string{"### `spec`", "### `spec.labels.*`", "### `spec.parts[]`"}
	last := -1
	for _, h := range order {
		i := strings.Index(doc, h)
		if i <= last {
			t.Errorf("heading %q out of order", h)
		}
		last = i
	}
	if !strings.HasSuffix(doc, "|\n") || strings.HasSuffix(doc, "\n\n") {
		t.Errorf("reference must end with exactly one newline")
	}
	if again := string(render(crds)); again != doc {
		t.Errorf("render is not deterministic")
	}
}
