package password

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonPasswords is the embedded list of common and leaked passwords: one
// per line, lowercase, sorted, unique. It is read-only; Check scans it.
//
//go:embed common-passwords.txt
var commonPasswords string

// Policy defaults (U16). The maximum is generous (NIST asks for at least 64)
// and only exists to bound work and storage.
const (
	DefaultMinLength = 8
	DefaultMaxLength = 128
	// maxPolicyLength bounds MaxLength in Validate.
	maxPolicyLength = 1024
	// minPersonalLen is the shortest name or email part Check looks for
	// inside a password; shorter ones match too many passwords by chance.
	minPersonalLen = 4
)

// Policy decides which new passwords are acceptable (U16). Lengths count
// Unicode characters (runes). The zero value means the defaults, and a
// Policy is a plain comparable value with no hidden state: it is safe to
// copy, compare and use concurrently.
type Policy struct {
	// MinLength is the least number of characters; 0 means 8.
	MinLength int
	// MaxLength is the most characters; 0 means 128. Passwords longer than
	// 4*MaxLength bytes are rejected as well, whatever their rune count.
	MaxLength int
}

// DefaultPolicy returns the policy with MinLength 8 and MaxLength 128.
func DefaultPolicy() Policy {
	return Policy{MinLength: DefaultMinLength, MaxLength: DefaultMaxLength}
}

// PolicyError is a password rejected by Policy.Check. Reason is a sentence
// safe to show the user as is; it never contains the password.
type PolicyError struct {
	Reason string
}

func (e *PolicyError) Error() string { return e.Reason }

func reject(format string, args ...any) error {
	return &PolicyError{Reason: fmt.Sprintf(format, args...)}
}

// limits returns MinLength and MaxLength with defaults applied.
func (p Policy) limits() (minLen, maxLen int) {
	minLen, maxLen = p.MinLength, p.MaxLength
	if minLen == 0 {
		minLen = DefaultMinLength
	}
	if maxLen == 0 {
		maxLen = DefaultMaxLength
	}
	return minLen, maxLen
}

// Validate reports a configuration an operator must fix: a minimum below 8
// or a maximum below the minimum or above 1024.
func (p Policy) Validate() error {
	minLen, maxLen := p.limits()
	switch {
	case minLen < DefaultMinLength:
		return fmt.Errorf("password: min length %d is below %d", p.MinLength, DefaultMinLength)
	case maxLen < minLen:
		return fmt.Errorf("password: max length %d is below min length %d", maxLen, minLen)
	case maxLen > maxPolicyLength:
		return fmt.Errorf("password: max length %d is above %d", maxLen, maxPolicyLength)
	}
	return nil
}

// Check returns nil if password is acceptable, or a *PolicyError saying
// why not. In order, it rejects: invalid UTF-8; fewer than MinLength or
// more than MaxLength characters (or more than 4*MaxLength bytes); a
// password on the embedded common-password list, compared
// case-insensitively; a password containing one of userInputs, compared
// case-insensitively. userInputs are the user's email address and names:
// for an email the local part counts, and for every input each word of at
// least 4 characters counts as well as the whole, so neither
// "john.smith@example.com" nor "John Smith" allows "Smith2024!".
//
// Check does not hash and takes microseconds.
func (p Policy) Check(password string, userInputs ...string) error {
	minLen, maxLen := p.limits()
	if !utf8.ValidString(password) {
		return reject("password must be valid UTF-8 text")
	}
	if len(password) > 4*maxLen {
		return reject("password must be at most %d characters", maxLen)
	}
	n := utf8.RuneCountInString(password)
	if n < minLen {
		return reject("password must be at least %d characters", minLen)
	}
	if n > maxLen {
		return reject("password must be at most %d characters", maxLen)
	}
	lower := strings.ToLower(password)
	if isCommon(strings.TrimSpace(lower)) {
		return reject("password is too common")
	}
	for _, in := range userInputs {
		in = strings.ToLower(strings.TrimSpace(in))
		what := "your name"
		if at := strings.LastIndexByte(in, '@'); at >= 0 {
			in, what = in[:at], "the email address"
		}
		for _, part := range personalParts(in) {
			if strings.Contains(lower, part) {
				return reject("password must not contain %s", what)
			}
		}
	}
	return nil
}

// personalParts returns s and its words (runs of letters and digits) that
// are at least minPersonalLen characters long.
func personalParts(s string) []string {
	var parts []string
	if utf8.RuneCountInString(s) >= minPersonalLen {
		parts = append(parts, s)
	}
	words := strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		if w != s && utf8.RuneCountInString(w) >= minPersonalLen {
			parts = append(parts, w)
		}
	}
	return parts
}

// isCommon reports whether lower is a whole line of the embedded list, by
// binary search over the text itself: the list is sorted bytewise (a test
// keeps it so), so a lookup compares about a dozen lines and needs neither
// a set built at start-up nor state held by Policy.
func isCommon(lower string) bool {
	list := commonPasswords
	// Invariant: lo and hi are line starts (or len(list)) and lower, if
	// present, starts in [lo, hi).
	lo, hi := 0, len(list)
	for lo < hi {
		mid := lo + (hi-lo)/2
		start := strings.LastIndexByte(list[:mid], '\n') + 1
		end := len(list)
		if i := strings.IndexByte(list[start:], '\n'); i >= 0 {
			end = start + i
		}
		switch line := list[start:end]; {
		case line == lower:
			return true
		case line < lower:
			lo = end + 1
		default:
			hi = start
		}
	}
	return false
}
