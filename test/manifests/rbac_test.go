package manifests

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// roleName matches a role name written in backticks: a lower-case
// Kubernetes name ending in -viewer, -editor, -reader or -role.
var roleName = regexp.MustCompile("`([a-z0-9][-a-z0-9.]*-(?:viewer|editor|reader|role))`")

// readmeRoleNames returns, in order and once each, the role names written
// in the README section under the level-2 heading title, up to the next
// level-2 heading.
func readmeRoleNames(readme, title string) []string {
	var names []string
	in := false
	for line := range strings.Lines(readme) {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == title
			continue
		}
		if !in {
			continue
		}
		for _, m := range roleName.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

func TestReadmeRoleNames(t *testing.T) {
	const readme = "## For users\n\n`other-viewer`\n\n" +
		"## For platform engineers\n\n" +
		"Give `success-operator-customersuccess-viewer` (aggregated into `view`) or\n" +
		"`success-operator-customersuccess-editor`; see `config/rbac/role.yaml`.\n\n" +
		"### RBAC\n\n| `success-operator-metrics-reader` | `success-operator-customersuccess-viewer` |\n\n" +
		"## Development\n\n`dev-editor`\n"
	tests := map[string]struct {
		title string
		want  []string
	}{
		"Names in prose and tables of the section and its subsections count, once each, and built-in roles and paths do not": {
			title: "For platform engineers",
			want:  []string{"success-operator-customersuccess-viewer", "success-operator-customersuccess-editor", "success-operator-metrics-reader"},
		},
		"Names under other level-2 headings do not count": {
			title: "For users",
			want:  []string{"other-viewer"},
		},
		"A missing section names nothing": {
			title: "For nobody",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := readmeRoleNames(readme, tt.title); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadmeRolesAreInstalled checks that every role the README's
// platform-engineer section names is a ClusterRole or Role that
// config/default installs under that exact name, namePrefix included.
func TestReadmeRolesAreInstalled(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	names := readmeRoleNames(string(readme), "For platform engineers")
	if len(names) == 0 {
		t.Fatal("README.md names no role (a backticked name ending in -viewer, -editor, -reader or -role) under \"## For platform engineers\"")
	}
	var installed []string
	for _, obj := range kustomize(t, root, "config/default") {
		if obj.GetAPIVersion() == "rbac.authorization.k8s.io/v1" && (obj.GetKind() == "ClusterRole" || obj.GetKind() == "Role") {
			installed = append(installed, obj.GetName())
		}
	}
	for _, name := range names {
		if !slices.Contains(installed, name) {
			t.Errorf("README.md names the role %s, but config/default installs only %q", name, installed)
		}
	}
}
