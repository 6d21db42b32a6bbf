package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
)

// Secret is a string that redacts itself in logs, fmt output and JSON.
// Use Reveal to get the value where it is really needed.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the underlying value.
func (s Secret) Reveal() string { return string(s) }

// String redacts, so %v and %s never print the value.
func (s Secret) String() string { return redacted }

// GoString redacts for %#v.
func (s Secret) GoString() string { return redacted }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts in text encodings (YAML, env dumps).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Empty reports whether no value is set.
func (s Secret) Empty() bool { return s == "" }

// Equal compares in constant time (for equal-length inputs).
func (s Secret) Equal(other Secret) bool { return Equal(string(s), string(other)) }

// Equal compares two strings in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// TokenBytes is the entropy of every opaque token Gatehouse issues (S2).
const TokenBytes = 32

// NewToken returns n random bytes encoded as unpadded base64url.
func NewToken(n int) (Secret, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Secret(base64.RawURLEncoding.EncodeToString(b)), nil
}

// MustToken is NewToken(TokenBytes) for callers that cannot handle a
// failing system random source; crypto/rand.Read never fails on Linux.
func MustToken() Secret {
	t, err := NewToken(TokenBytes)
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return t
}

// Digest returns the hex SHA-256 of a token: what is stored in place of it.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
