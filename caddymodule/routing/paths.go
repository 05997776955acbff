package routing

// This file holds the path helpers: cleaning a request's path, the key it
// is matched by, stripping a route's prefix, and counting segments.

import (
	"path"
	"strings"
)

// firstSegments cuts p after its first n segments ("/a/b/c", 2: "/a/b").
func firstSegments(p string, n int) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			if n--; n <= 0 {
				return p[:i]
			}
		}
	}
	return p
}

// Segments counts a prefix's segments ("/" has none, "/a/b" two).
func Segments(prefix string) int {
	if prefix == "/" {
		return 0
	}
	return strings.Count(prefix, "/")
}

// CleanPath returns the cleaned form of a request path, the form that is
// matched and forwarded, and keeps a trailing slash the client sent (so
// "/a/b/" stays a directory). "..", "." and repeated slashes are resolved
// before matching, so "/multiply/../other" is matched as "/other".
// It does not allocate when p is already clean.
func CleanPath(p string) (cleaned string) {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && p[len(p)-1] == '/' {
		if len(c)+1 == len(p) && p[:len(c)] == c {
			return p // already clean, with its trailing slash
		}
		return c + "/"
	}
	return c
}

// MatchKey drops the trailing slash CleanPath may have kept.
func MatchKey(cleaned string) string {
	if len(cleaned) > 1 && cleaned[len(cleaned)-1] == '/' {
		return cleaned[:len(cleaned)-1]
	}
	return cleaned
}

// StripPrefix removes prefix from the cleaned path p on a segment boundary.
func StripPrefix(p, prefix string) string {
	if prefix == "/" {
		return p
	}
	rest := p[len(prefix):]
	if rest == "" {
		return "/"
	}
	return rest
}
