package routing

// This file reads the host name of a Host header or TLS server name, in
// the form routes claim hosts in.

import (
	"errors"
	"fmt"
	"strings"
)

// MaxHostLen is the longest host name DNS allows.
const MaxHostLen = 253

// hostName returns the host name of a Host header, without its port or
// trailing dot, and false for what no route can claim: an empty name, an
// IP address, a wildcard, a port that is not a number, or one longer than a
// host name can be.
func hostName(raw string) (string, bool) {
	if raw == "" || raw[0] == '[' { // an IPv6 literal
		return "", false
	}
	if i := strings.LastIndexByte(raw, ':'); i >= 0 {
		if strings.Trim(raw[i+1:], "0123456789") != "" {
			return "", false
		}
		raw = raw[:i]
	}
	raw = strings.TrimSuffix(raw, ".")
	if raw == "" || len(raw) > MaxHostLen || numericLastLabel(raw) || strings.IndexByte(raw, '*') >= 0 {
		return "", false // no route claims it; a `*` is a label's, never a host's
	}
	return raw, true
}

// PlainHostName reports whether name is a host name by itself, as a TLS
// server name must be: dot-separated labels of letters, digits and hyphens
// (CheckHostLabel), with at most a trailing dot; no port, no brackets,
// nothing else.
func PlainHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > MaxHostLen {
		return false
	}
	for l := range strings.SplitSeq(name, ".") {
		if CheckHostLabel(l) != nil {
			return false
		}
	}
	return true
}

// CheckHostLabel checks one dot-separated label of a host name: 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen.
func CheckHostLabel(l string) error {
	switch {
	case l == "":
		return errors.New("an empty label (two dots, or a leading dot)")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			if c == '*' {
				return errors.New("`*` only as the whole first label (`*.example.com`)")
			}
			return fmt.Errorf("character %q is not allowed in a host name (letters, digits and hyphens only)", c)
		}
	}
	return nil
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
