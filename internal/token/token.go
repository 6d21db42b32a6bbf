package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-auth/gatehouse/internal/keyset"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
)

// Defaults.
const (
	DefaultTTL    = 15 * time.Minute // J5
	DefaultLeeway = 30 * time.Second
	// MaxTokenBytes is the largest token Verify will look at; longer input
	// is rejected before any parsing.
	MaxTokenBytes = 8 << 10
	// TypeAccessToken is the JOSE "typ" header of every access token
	// (RFC 9068 section 2.1); Verify requires it.
	TypeAccessToken = "at+jwt"
)

// ErrInvalidToken is wrapped by every Verify failure. Callers answer it
// with 401 and WWW-Authenticate: Bearer error="invalid_token" (J9).
var ErrInvalidToken = errors.New("invalid token")

// ErrExpired is wrapped (alongside ErrInvalidToken, which it wraps itself)
// when the only thing wrong is that the token has expired.
var ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// Claims are the claims of an access token. Zero values are omitted from
// the token; JSON names are given in brackets.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user id (required)
	Audience  []string  // aud
	SessionID string    // sid: the session the token belongs to (J16)
	IssuedAt  time.Time // iat
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf (optional)
	ID        string    // jti
	Roles     []string  // roles (optional)
	AMR       []string  // amr: authentication methods, e.g. "pwd", "otp" (optional)
	AuthTime  time.Time // auth_time: when the user last authenticated (optional)
	ClientID  string    // client_id: the OAuth client, when there is one (optional)
	Scope     string    // scope: space-separated OAuth scopes (optional)
}

// wire is the JSON form of Claims.
type wire struct {
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  jwt.Audience     `json:"aud,omitempty"`
	SessionID string           `json:"sid,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti,omitempty"`
	Roles     []string         `json:"roles,omitempty"`
	AMR       []string         `json:"amr,omitempty"`
	AuthTime  *jwt.NumericDate `json:"auth_time,omitempty"`
	ClientID  string           `json:"client_id,omitempty"`
	Scope     string           `json:"scope,omitempty"`
}

func numericTime(n *jwt.NumericDate) time.Time {
	if n == nil {
		return time.Time{}
	}
	return n.Time()
}

// Issuer mints access tokens signed by the keyset's active key. It is safe
// for concurrent use and follows rotations without being rebuilt.
type Issuer struct {
	keys     *keyset.Set
	issuer   string
	audience []string
	ttl      time.Duration
	now      func() time.Time

	signer atomic.Pointer[cachedSigner]
}

type cachedSigner struct {
	kid    string
	signer jose.Signer
}

// NewIssuer returns an Issuer whose tokens carry iss issuer and aud
// audience unless a Claims sets its own, and live ttl (DefaultTTL when
// zero). now is the clock, time.Now when nil.
func NewIssuer(keys *keyset.Set, issuer string, audience []string, ttl time.Duration, now func() time.Time) *Issuer {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: keys, issuer: issuer, audience: append([]string(nil), audience...), ttl: ttl, now: now}
}

// TTL is the lifetime of tokens whose Claims leave ExpiresAt empty.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs c as an access token and returns it with its expiry. Empty
// Issuer, Audience, IssuedAt, ExpiresAt (IssuedAt + TTL) and ID (random)
// are filled in; Subject is required, and the token must end up with an
// issuer and an audience.
func (i *Issuer) Issue(c Claims) (token string, exp time.Time, err error) {
	if c.Subject == "" {
		return "", time.Time{}, errors.New("token: issue: subject is required")
	}
	if c.Issuer == "" {
		c.Issuer = i.issuer
	}
	if len(c.Audience) == 0 {
		c.Audience = i.audience
	}
	if c.Issuer == "" || len(c.Audience) == 0 {
		return "", time.Time{}, errors.New("token: issue: issuer and audience are required")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = i.now()
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = c.IssuedAt.Add(i.ttl)
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return "", time.Time{}, errors.New("token: issue: expiry is not after issued-at")
	}
	if c.ID == "" {
		id, err := secret.NewToken(16)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("token: issue: jti: %w", err)
		}
		c.ID = id.Reveal()
	}
	payload, err := json.Marshal(wire{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  c.Audience,
		SessionID: c.SessionID,
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		NotBefore: jwt.NewNumericDate(c.NotBefore),
		ID:        c.ID,
		Roles:     c.Roles,
		AMR:       c.AMR,
		AuthTime:  jwt.NewNumericDate(c.AuthTime),
		ClientID:  c.ClientID,
		Scope:     c.Scope,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: issue: encode claims: %w", err)
	}
	signer, err := i.activeSigner()
	if err != nil {
		return "", time.Time{}, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: issue: sign: %w", err)
	}
	token, err = jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: issue: serialize: %w", err)
	}
	// The token carries whole seconds; report what it carries.
	return token, numericTime(jwt.NewNumericDate(c.ExpiresAt)), nil
}

// activeSigner returns a signer for the active key, rebuilding it only
// after a rotation.
func (i *Issuer) activeSigner() (jose.Signer, error) {
	key := i.keys.Active()
	if c := i.signer.Load(); c != nil && c.kid == key.KID {
		return c.signer, nil
	}
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.KID, Algorithm: string(key.Algorithm)}},
		(&jose.SignerOptions{}).WithType(TypeAccessToken),
	)
	if err != nil {
		return nil, fmt.Errorf("token: signer for key %s: %w", key.KID, err)
	}
	i.signer.Store(&cachedSigner{kid: key.KID, signer: s})
	return s, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: three
// non-empty base64url segments separated by two dots. It is a cheap routing
// check for bearer tokens (opaque tokens and API keys contain no dots), not
// a validation.
func LooksLikeJWT(s string) bool {
	if len(s) > MaxTokenBytes || strings.Count(s, ".") != 2 ||
		s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !jwtAlphabet[s[i]] {
			return false
		}
	}
	return true
}

// jwtAlphabet marks the bytes of base64url plus the dot. It is built by a
// pure function and never written after, so it is a constant in all but
// name; a table keeps LooksLikeJWT cheap on every bearer request.
var jwtAlphabet = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'] = true, true, true
	return t
}()

// Opaque is a newly minted opaque token (session, refresh or one-time
// token). Value goes to the client once; Hash, its hex SHA-256, is the only
// form that is stored (S2, J10).
type Opaque struct {
	Value secret.Secret
	Hash  string
}

// NewOpaque mints an opaque token of secret.TokenBytes random bytes.
// Hash a presented token with secret.Digest to look it up.
func NewOpaque() (Opaque, error) {
	v, err := secret.NewToken(secret.TokenBytes)
	if err != nil {
		return Opaque{}, fmt.Errorf("token: opaque: %w", err)
	}
	return Opaque{Value: v, Hash: secret.Digest(v.Reveal())}, nil
}
