package v1alpha1

// Decimal is an exact decimal number written as a string, such as "2700",
// "0.80" or "-1.5". Money and survey-derived figures use it so that no
// floating-point rounding reaches the API.
// +kubebuilder:validation:Pattern=`^-?[0-9]{1,15}(\.[0-9]{1,6})?$`
// +kubebuilder:validation:MaxLength=23
type Decimal string

// Date is a calendar day in the form YYYY-MM-DD.
// +kubebuilder:validation:Format=date
// +kubebuilder:validation:MaxLength=10
type Date string

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
