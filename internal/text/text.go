// Package text bounds the text the operator writes into status, Events and
// logs: condition messages, error texts and Event actions.
package text

// Truncate returns s cut to at most n bytes, ending in "..." when cut. It
// never splits a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return "..."[:max(n, 0)]
	}
	cut := n - 3
	// Back up to the start of a rune.
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
