// Package v1alpha1 holds the customersuccess.dev/v1alpha1 API: the
// CustomerAccount and SuccessPlan kinds.
//
// +kubebuilder:object:generate=true
// +groupName=customersuccess.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "customersuccess.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the kinds of this API to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&CustomerAccount{}, &CustomerAccountList{},
		&SuccessPlan{}, &SuccessPlanList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
