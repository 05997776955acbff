package routing

// This file reads the host name of a Host header or TLS server name, in
// the form routes claim hosts in.

import "strings"

// MaxHostLen is the longest host name DNS allows.
const MaxHostLen = 253

// hostName returns the host name of a Host header or TLS server name,
// without its port or trailing dot, and false for what no route can claim:
// an empty name, an IP address, a wildcard, or one longer than a host name
// can be.
func hostName(raw string) (string, bool) {
	if raw == "" || raw[0] == '[' { // an IPv6 literal
		return "", false
	}
	if i := strings.LastIndexByte(raw, ':'); i >= 0 {
		raw = raw[:i]
	}
	raw = strings.TrimSuffix(raw, ".")
	if raw == "" || len(raw) > MaxHostLen || numericLastLabel(raw) || strings.IndexByte(raw, '*') >= 0 {
		return "", false // no route claims it; a `*` is a label's, never a host's
	}
	return raw, true
}

// numericLastLabel reports whether h's last label is all digits, as an IPv4
// address's is and no claimed host's can be.
func numericLastLabel(h string) bool {
	for i := len(h) - 1; i >= 0 && h[i] != '.'; i-- {
		if h[i] < '0' || h[i] > '9' {
			return false
		}
	}
	return true
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

// appendLower appends s to dst in lower case (ASCII).
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
