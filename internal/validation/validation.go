// Package validation owns the one shape of input errors: a list of
// field/message pairs that the HTTP layer renders as a 400
// validation_failed problem (U10).
package validation

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError is one problem with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors is a list of field errors; it is an error when non-empty.
type Errors []FieldError

func (e Errors) Error() string {
	var b strings.Builder
	b.WriteString("validation failed")
	for i, f := range e {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

// Add appends a field error.
func (e *Errors) Add(field, message string) { *e = append(*e, FieldError{field, message}) }

// Err returns e as an error, or nil when empty.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// MaxEmailLength is the longest address accepted (RFC 5321 path limit).
const MaxEmailLength = 254

// NormalizeEmail trims and lowercases an address (U1) and checks its
// shape; it returns the trimmed original, the normalised form and a
// message when invalid.
func NormalizeEmail(raw string) (trimmed, normalized, problem string) {
	trimmed = strings.TrimSpace(raw)
	switch {
	case trimmed == "":
		return "", "", "is required"
	case len(trimmed) > MaxEmailLength:
		return "", "", "must be at most 254 characters"
	case !utf8.ValidString(trimmed) || strings.ContainsAny(trimmed, " \t\r\n<>()[]\\,;:\"") || strings.Count(trimmed, "@") != 1:
		return "", "", "must be a valid email address"
	}
	a, err := mail.ParseAddress(trimmed)
	if err != nil || a.Address != trimmed {
		return "", "", "must be a valid email address"
	}
	at := strings.LastIndexByte(trimmed, '@')
	if at < 1 || at == len(trimmed)-1 || !strings.Contains(trimmed[at+1:], ".") || strings.HasSuffix(trimmed, ".") {
		return "", "", "must be a valid email address"
	}
	return trimmed, strings.ToLower(trimmed), ""
}

// Text checks a free-text field: valid UTF-8, no control characters, at
// most max runes. It returns the trimmed value and a message when invalid.
func Text(v string, max int) (string, string) {
	v = strings.TrimSpace(v)
	if !utf8.ValidString(v) {
		return "", "must be valid UTF-8"
	}
	if utf8.RuneCountInString(v) > max {
		return "", "must be at most " + strconv.Itoa(max) + " characters"
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return "", "must not contain control characters"
		}
	}
	return v, ""
}
