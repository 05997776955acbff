// Clean paths: docker-api lets a request through only when its path is
// already in its clean, decoded form, so that the path the allowlist
// checked is exactly the path dockerd routes.

package dockerapi

import (
	"net/url"
	"strings"
)

// pathProblem says why a request path is not in its clean, decoded form,
// or returns "" when it is. Clean means: absolute, no percent-encoding at
// all, no empty, "." or ".." segment, and no trailing slash.
func pathProblem(u *url.URL) string {
	p := u.Path
	switch {
	case u.RawPath != "" || strings.Contains(u.EscapedPath(), "%"):
		// Either the client encoded something (%2F, %73) or the decoded path
		// holds characters that need encoding: both can route differently
		// from what they look like.
		return "percent-encoded or non-ASCII path"
	case !strings.HasPrefix(p, "/"):
		return "path is not absolute"
	case p == "/":
		return ""
	case strings.HasSuffix(p, "/"):
		return "trailing slash"
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case "":
			return "empty path segment (//)"
		case ".", "..":
			return "dot segment (" + seg + ")"
		}
	}
	return ""
}
