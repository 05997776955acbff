package caddymodule

// This file holds the answers the modules write themselves: plain-text
// messages, the 503 with Retry-After, and JSON.

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// retryAfter is the Retry-After of a 503 answered before the first
// listing, in seconds: a listing takes well under a second once Docker
// answers.
const retryAfter = "1"

// writeUnavailable answers 503 with Retry-After and the reason.
func writeUnavailable(w http.ResponseWriter, msg string) error {
	w.Header().Set("Retry-After", retryAfter)
	return writeText(w, http.StatusServiceUnavailable, msg)
}

// writeText answers a plain-text message.
func writeText(w http.ResponseWriter, code int, msg string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, err := fmt.Fprint(w, msg)
	return err
}

// writeJSON writes v as a JSON answer.
func writeJSON(rw http.ResponseWriter, v any) error {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(rw).Encode(v); err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	return nil
}
