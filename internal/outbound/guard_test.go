package outbound

import (
	"strings"
	"testing"
	"time"
)

func TestGuardRefusesLinkLocal(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allow   bool
		refused bool
	}{
		{"169.254.169.254:80", false, true},
		{"[fe80::1]:80", false, true},
		{"[fd00:ec2::254]:80", false, true},
		{"0.0.0.0:80", false, true},
		{"169.254.169.254:80", true, false},
		{"127.0.0.1:9090", false, false},
		{"10.0.0.7:9090", false, false},
	} {
		err := checkAddress(tc.addr, tc.allow)
		if (err != nil) != tc.refused {
			t.Errorf("checkAddress(%s, allow=%v) = %v, want refused=%v", tc.addr, tc.allow, err, tc.refused)
		}
	}
	// The check runs at dial time, on the resolved address.
	hc := NewClient(Options{Timeout: time.Second})
	_, err := hc.Get("http://169.254.169.254/latest/meta-data/")
	if err == nil || !strings.Contains(Describe(err), "refused") {
		t.Fatalf("metadata address reached: %v", err)
	}
}
