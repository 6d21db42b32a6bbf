package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-auth/gatehouse/internal/keyset"
)

// KeySource resolves a kid to a public key. *keyset.Set satisfies it; a
// resource server plugs in a JWKS cache.
type KeySource interface {
	PublicKey(kid string) (jose.JSONWebKey, bool)
}

var _ KeySource = (*keyset.Set)(nil)

// asymmetric are the only algorithms a Verifier can be made to accept.
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// defaultAlgorithms are accepted when NewVerifier gets none: every
// algorithm keyset can sign with. Accepting all of them is safe because
// each key pins its own alg, and lets an operator change the signing
// algorithm without breaking tokens already issued.
func defaultAlgorithms() []string { return []string{keyset.RS256, keyset.ES256, keyset.EdDSA} }

// CheckAlgorithms reports whether every name is an asymmetric JWS
// algorithm a Verifier accepts; config validation calls it so a bad list
// fails at start-up instead of being silently ignored.
func CheckAlgorithms(algs []string) error {
	for _, a := range algs {
		if _, ok := asymmetricAlg(a); !ok {
			return fmt.Errorf("token: algorithm %q is not allowed (use RS256, ES256, EdDSA or another asymmetric JWS algorithm)", a)
		}
	}
	return nil
}

func asymmetricAlg(name string) (jose.SignatureAlgorithm, bool) {
	for _, a := range asymmetric {
		if string(a) == name {
			return a, true
		}
	}
	return "", false
}

// Verifier checks access tokens offline. It is safe for concurrent use.
type Verifier struct {
	keys     KeySource
	issuer   string
	audience string
	algs     []jose.SignatureAlgorithm
	leeway   time.Duration
	now      func() time.Time
}

// NewVerifier returns a Verifier that accepts only tokens signed with one
// of algs by a key that keys knows, with iss equal to issuer and aud
// containing audience.
//
// Empty algs means RS256, ES256 and EdDSA, everything keyset signs with;
// that is safe because each key pins its own alg, and it lets an operator
// change algorithm without breaking tokens already issued. Names that are
// not asymmetric JWS algorithms ("none", "HS256", ...) are dropped, never
// accepted; validate configuration with CheckAlgorithms. An empty issuer
// or audience makes every token fail rather than skipping the check.
// leeway (DefaultLeeway when zero, none when negative) absorbs clock skew
// on exp, nbf and iat. now is the clock, time.Now when nil.
func NewVerifier(keys KeySource, issuer string, audience string, algs []string, leeway time.Duration, now func() time.Time) *Verifier {
	if len(algs) == 0 {
		algs = defaultAlgorithms()
	}
	var pinned []jose.SignatureAlgorithm
	for _, name := range algs {
		if a, ok := asymmetricAlg(name); ok {
			pinned = append(pinned, a)
		}
	}
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: keys, issuer: issuer, audience: audience, algs: pinned, leeway: leeway, now: now}
}

func invalid(reason string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalidToken, reason, cause)
}

// Verify checks the token's size, shape, algorithm, typ, kid, signature,
// issuer, audience and times, and returns its claims. Every failure wraps
// ErrInvalidToken (and ErrExpired when it has expired).
func (v *Verifier) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, invalid("too large", nil)
	}
	if v.issuer == "" || v.audience == "" || len(v.algs) == 0 {
		return Claims{}, invalid("verifier has no issuer, audience or algorithm configured", nil)
	}
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return Claims{}, invalid("malformed or algorithm not allowed", err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, invalid("want exactly one signature", nil)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return Claims{}, invalid(fmt.Sprintf("typ %q is not %s", typ, TypeAccessToken), nil)
	}
	if h.KeyID == "" {
		return Claims{}, invalid("no kid", nil)
	}
	jwk, ok := v.keys.PublicKey(h.KeyID)
	if !ok {
		return Claims{}, invalid("unknown kid", nil)
	}
	if jwk.Algorithm != "" && jwk.Algorithm != h.Algorithm {
		return Claims{}, invalid("alg does not match the key", nil)
	}
	var pub any
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		pub = k
	default:
		// Never verify with a symmetric or private key, whatever the source says.
		return Claims{}, invalid("key is not an asymmetric public key", nil)
	}

	var w wire
	if err := tok.Claims(pub, &w); err != nil {
		return Claims{}, invalid("bad signature or claims", err)
	}
	if w.Subject == "" || w.ExpiresAt == nil || w.IssuedAt == nil {
		return Claims{}, invalid("sub, exp and iat are required", nil)
	}
	std := jwt.Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  w.Audience,
		Expiry:    w.ExpiresAt,
		NotBefore: w.NotBefore,
		IssuedAt:  w.IssuedAt,
		ID:        w.ID,
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.issuer,
		AnyAudience: jwt.Audience{v.audience},
		Time:        v.now(),
	}, v.leeway)
	if errors.Is(err, jwt.ErrExpired) {
		return Claims{}, fmt.Errorf("%w: %w", ErrExpired, err)
	}
	if err != nil {
		return Claims{}, invalid("claims rejected", err)
	}
	return Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  []string(w.Audience),
		SessionID: w.SessionID,
		IssuedAt:  numericTime(w.IssuedAt),
		ExpiresAt: numericTime(w.ExpiresAt),
		NotBefore: numericTime(w.NotBefore),
		ID:        w.ID,
		Roles:     w.Roles,
		AMR:       w.AMR,
		AuthTime:  numericTime(w.AuthTime),
		ClientID:  w.ClientID,
		Scope:     w.Scope,
	}, nil
}

// isAccessTokenType accepts "at+jwt" and "application/at+jwt", any case
// (RFC 9068 section 4, RFC 7515 section 4.1.9).
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == TypeAccessToken || typ == "application/"+TypeAccessToken
}
