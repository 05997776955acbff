// Package check holds the assertions that tests of several packages share.
package check

import (
	"strings"
	"testing"
)

// Err checks err against wantErr, a substring it must contain ("" for
// no error), and reports whether an error was wanted, so that the case is
// done.
func Err(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error = %v, want one containing %q", err, wantErr)
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	}
	return wantErr != ""
}
