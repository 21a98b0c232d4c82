package text

import (
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short text is kept", "abc", 5, "abc"},
		{"text of exactly the bound is kept", "abcde", 5, "abcde"},
		{"long text ends in an ellipsis within the bound", "abcdefgh", 6, "abc..."},
		{"a bound below the ellipsis cuts the ellipsis", "abcdefgh", 2, ".."},
		{"a zero bound gives nothing", "abc", 0, ""},
		{"a rune is never split", "aééé", 5, "a..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.n)
			if got != tc.want || len(got) > max(tc.n, 0) || !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
