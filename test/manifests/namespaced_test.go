package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// watchFlag is the manager flag that restricts it to some namespaces.
const watchFlag = "--watch-namespaces="

// watchedNamespaces returns the namespaces of the manager's
// --watch-namespaces argument, and how many such arguments there are.
func watchedNamespaces(args []string) (namespaces []string, flags int) {
	for _, a := range args {
		if list, ok := strings.CutPrefix(a, watchFlag); ok {
			flags++
			namespaces = strings.Split(list, ",")
		}
	}
	return namespaces, flags
}

func TestWatchedNamespaces(t *testing.T) {
	tests := map[string]struct {
		args  []string
		want  []string
		flags int
	}{
		"A comma-separated list is the namespaces, in order": {
			args: []string{"--leader-elect", "--watch-namespaces=customers,customers-eu"}, want: []string{"customers", "customers-eu"}, flags: 1},
		"One namespace is a list of one":        {args: []string{"--watch-namespaces=customers"}, want: []string{"customers"}, flags: 1},
		"Without the flag there is no list":     {args: []string{"--leader-elect"}},
		"The flag twice is counted twice":       {args: []string{"--watch-namespaces=a", "--watch-namespaces=b"}, want: []string{"b"}, flags: 2},
		"A flag of another name does not count": {args: []string{"--watch-namespaces-extra=a"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, flags := watchedNamespaces(tt.args)
			if !slices.Equal(got, tt.want) || flags != tt.flags {
				t.Errorf("got %q (%d flags), want %q (%d)", got, flags, tt.want, tt.flags)
			}
		})
	}
}

// grants flattens RBAC rules into sorted "group resource verb" triples (and
// "url verb" for non-resource URLs), so that two roles that grant the same
// compare equal however their rules are grouped.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					grant := fmt.Sprintf("%s %s %s", g, res, v)
					if len(r.ResourceNames) > 0 {
						grant += " " + strings.Join(r.ResourceNames, ",")
					}
					out = append(out, grant)
				}
			}
			for _, u := range r.NonResourceURLs {
				out = append(out, u+" "+v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestGrants(t *testing.T) {
	tests := map[string]struct {
		rules []rbacv1.PolicyRule
		want  []string
	}{
		"Each group, resource and verb of a rule is one grant": {
			rules: []rbacv1.PolicyRule{{APIGroups: []string{"customersuccess.dev"}, Resources: []string{"successplans", "customeraccounts"}, Verbs: []string{"get", "list"}}},
			want: []string{"customersuccess.dev customeraccounts get", "customersuccess.dev customeraccounts list",
				"customersuccess.dev successplans get", "customersuccess.dev successplans list"}},
		"Rules grouped differently grant the same": {
			rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
			},
			want: []string{" secrets get"}},
		"Resource names narrow a grant": {
			rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"a"}, Verbs: []string{"get"}}},
			want:  []string{" secrets get a"}},
		"Non-resource URLs are grants of their own": {
			rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
			want:  []string{"/metrics get"}},
		"No rules grant nothing": {},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := grants(tt.rules); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNamespacedVariant renders config/namespaced, the install for
// multi-tenant clusters, and checks it against config/default and the
// manager's generated ClusterRole (config/rbac/role.yaml): the manager
// watches the namespaces of --watch-namespaces, holds there a Role with
// exactly the grants of its ClusterRole, and holds no cluster-wide grant on
// the operator's resources, Secrets or Events; everything else is
// config/default unchanged.
func TestNamespacedVariant(t *testing.T) {
	root := repoRoot(t)
	variant := kustomize(t, root, "config/namespaced")
	base := kustomize(t, root, "config/default")
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	generated := decodeObjects(t, data)
	if len(generated) != 1 || generated[0].GetKind() != "ClusterRole" {
		t.Fatalf("config/rbac/role.yaml holds %d objects, want the manager's ClusterRole", len(generated))
	}
	var managerRole rbacv1.ClusterRole
	convert(t, generated[0], &managerRole)
	want := grants(managerRole.Rules)

	var deploy appsv1.Deployment
	convert(t, find(t, variant, "Deployment", "", "success-operator-controller-manager"), &deploy)
	manager := rbacv1.Subject{Kind: "ServiceAccount", Name: deploy.Spec.Template.Spec.ServiceAccountName, Namespace: deploy.Namespace}
	var args []string
	for _, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			args = c.Args
		}
	}
	watched, flags := watchedNamespaces(args)

	t.Run("the manager runs with --watch-namespaces", func(t *testing.T) {
		if flags != 1 || len(watched) == 0 || slices.Contains(watched, "") {
			t.Fatalf("the manager's args %q should hold one %s with a list of namespaces", args, watchFlag)
		}
	})

	t.Run("no cluster-wide grant on the operator's resources, Secrets or Events is left to the manager", func(t *testing.T) {
		for _, obj := range variant {
			if obj.GetKind() != "ClusterRoleBinding" {
				continue
			}
			var b rbacv1.ClusterRoleBinding
			convert(t, obj, &b)
			if !slices.Contains(b.Subjects, manager) {
				continue
			}
			obj := findOrNil(variant, "ClusterRole", "", b.RoleRef.Name)
			if obj == nil {
				t.Errorf("ClusterRoleBinding %s binds the manager to the ClusterRole %s, which is not installed", b.Name, b.RoleRef.Name)
				continue
			}
			var role rbacv1.ClusterRole
			convert(t, *obj, &role)
			for _, g := range grants(role.Rules) {
				if slices.Contains(want, g) || strings.HasPrefix(g, "customersuccess.dev ") {
					t.Errorf("ClusterRoleBinding %s grants the manager %q cluster-wide", b.Name, g)
				}
			}
		}
		for _, obj := range variant {
			if obj.GetKind() == "ClusterRole" && obj.GetName() == "success-operator-"+managerRole.Name {
				t.Errorf("the manager's ClusterRole %s is still installed", obj.GetName())
			}
		}
	})

	t.Run("each watched namespace, and only those, gives the manager a Role with the grants of config/rbac/role.yaml", func(t *testing.T) {
		var granted []string
		for _, obj := range variant {
			if obj.GetKind() != "RoleBinding" {
				continue
			}
			var b rbacv1.RoleBinding
			convert(t, obj, &b)
			if !slices.Contains(b.Subjects, manager) {
				continue
			}
			if b.Namespace == manager.Namespace && strings.Contains(b.RoleRef.Name, "leader-election") {
				continue // leader election stays in the manager's namespace
			}
			if b.RoleRef.Kind != "Role" {
				t.Errorf("RoleBinding %s/%s binds the manager to the %s %s, want a Role", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
				continue
			}
			var role rbacv1.Role
			convert(t, find(t, variant, "Role", b.Namespace, b.RoleRef.Name), &role)
			if got := grants(role.Rules); !slices.Equal(got, want) {
				t.Errorf("Role %s/%s grants\n%q\nwant the grants of config/rbac/role.yaml\n%q", b.Namespace, role.Name, got, want)
			}
			granted = append(granted, b.Namespace)
		}
		slices.Sort(granted)
		sortedWatched := slices.Sorted(slices.Values(watched))
		if !slices.Equal(granted, sortedWatched) {
			t.Errorf("the manager has Roles in %q but watches %q: keep config/namespaced/grants/namespaces.yaml to the --watch-namespaces list", granted, sortedWatched)
		}
	})

	t.Run("everything else is config/default unchanged", func(t *testing.T) {
		for _, obj := range base {
			id := objectID(obj)
			switch {
			case obj.GetKind() == "ClusterRole" && obj.GetName() == "success-operator-"+managerRole.Name,
				obj.GetKind() == "ClusterRoleBinding" && obj.GetName() == "success-operator-manager-rolebinding":
				continue // replaced by the Roles
			case obj.GetKind() == "Deployment":
				var baseDeploy appsv1.Deployment
				convert(t, obj, &baseDeploy)
				withoutFlag := deploy.DeepCopy()
				for i, c := range withoutFlag.Spec.Template.Spec.Containers {
					withoutFlag.Spec.Template.Spec.Containers[i].Args = slices.DeleteFunc(slices.Clone(c.Args),
						func(a string) bool { return strings.HasPrefix(a, watchFlag) })
				}
				if !reflect.DeepEqual(withoutFlag.Spec, baseDeploy.Spec) || !reflect.DeepEqual(withoutFlag.ObjectMeta, baseDeploy.ObjectMeta) {
					t.Errorf("the Deployment differs from config/default's by more than %s", watchFlag)
				}
				continue
			}
			got := findOrNil(variant, obj.GetKind(), obj.GetNamespace(), obj.GetName())
			if got == nil {
				t.Errorf("config/namespaced lacks %s", id)
			} else if !reflect.DeepEqual(got.Object, obj.Object) {
				t.Errorf("%s differs from config/default's", id)
			}
		}
		for _, obj := range variant {
			grant := slices.Contains(watched, obj.GetNamespace()) && (obj.GetKind() == "Role" || obj.GetKind() == "RoleBinding")
			if !grant && findOrNil(base, obj.GetKind(), obj.GetNamespace(), obj.GetName()) == nil {
				t.Errorf("config/namespaced adds %s, which is neither in config/default nor a grant in a watched namespace", objectID(obj))
			}
		}
	})
}

// objectID names an object in messages.
func objectID(obj unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return fmt.Sprintf("%s %s", obj.GetKind(), obj.GetName())
}

// findOrNil returns the object of that kind, namespace and name, or nil.
func findOrNil(objs []unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for i, obj := range objs {
		if obj.GetKind() == kind && obj.GetNamespace() == namespace && obj.GetName() == name {
			return &objs[i]
		}
	}
	return nil
}

// find returns the object of that kind and name, in namespace when it is
// not empty, or fails the test.
func find(t *testing.T, objs []unstructured.Unstructured, kind, namespace, name string) unstructured.Unstructured {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() == kind && obj.GetName() == name && (namespace == "" || obj.GetNamespace() == namespace) {
			return obj
		}
	}
	t.Fatalf("no %s %s/%s in the rendered manifests", kind, namespace, name)
	return unstructured.Unstructured{}
}

// convert turns an unstructured object into its typed form.
func convert(t *testing.T, obj unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into); err != nil {
		t.Fatalf("converting %s: %v", objectID(obj), err)
	}
}
