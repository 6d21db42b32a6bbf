package gatehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalidToken is wrapped by every Verify failure: malformed token,
// algorithm not allowed, unknown key, bad signature, wrong typ, issuer or
// audience, expired, not yet valid, or revoked. Answer it with 401.
var ErrInvalidToken = errors.New("gatehouse: invalid token")

// ErrExpired is wrapped (next to ErrInvalidToken, which it wraps itself)
// when a token's only fault is that it has expired: the client should
// refresh it.
var ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// ErrRevoked is wrapped (next to ErrInvalidToken, which it wraps itself)
// when the token is genuine but its session has ended: logged out,
// revoked, suspended or its password changed. Refreshing will not help.
var ErrRevoked = fmt.Errorf("%w: session revoked", ErrInvalidToken)

// TypeAccessToken is the JOSE typ header of Gatehouse access tokens
// (RFC 9068); "application/at+jwt" is accepted too.
const TypeAccessToken = "at+jwt"

// allowedAlgs are the only algorithms a token may be signed with; each key
// further pins its own.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Claims are the verified claims of an access token.
type Claims struct {
	Subject   string    // sub: the user id (or the OAuth client for client-credentials tokens)
	SessionID string    // sid: the session the token belongs to; empty for tokens without one
	ID        string    // jti: unique per token
	Roles     []string  // roles the user held when the token was issued; may be out of date
	AMR       []string  // amr: how the user authenticated, e.g. "pwd", "otp"
	IssuedAt  time.Time // iat
	ExpiresAt time.Time // exp
	AuthTime  time.Time // auth_time, zero when absent
	ClientID  string    // client_id of an OAuth client, when there is one
	Scope     string    // space-separated OAuth scopes, when there are any
	Raw       string    // the token itself, e.g. to call Gatehouse on the user's behalf
}

// LogValue keeps the raw token out of logs.
func (c Claims) LogValue() slog.Value {
	return slog.GroupValue(slog.String("sub", c.Subject), slog.String("sid", c.SessionID), slog.String("jti", c.ID),
		slog.Time("exp", c.ExpiresAt))
}

// wireClaims is the JSON form of an access token's payload.
type wireClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	SessionID string           `json:"sid"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
	Roles     []string         `json:"roles"`
	AMR       []string         `json:"amr"`
	AuthTime  *jwt.NumericDate `json:"auth_time"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope"`
}

// Verifier checks Gatehouse access tokens offline. It is safe for
// concurrent use. Build it once per process with [NewVerifier] and stop its
// background work with [Verifier.Close].
type Verifier struct {
	s      settings
	client *Client

	keys      atomic.Pointer[keySet]
	refreshMu sync.Mutex // serialises fetches caused by an unknown kid
	lastForce time.Time  // guarded by refreshMu

	rev   revocations
	cache verifiedCache

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewVerifier fetches the JWKS once (failing if it cannot), reads the
// revocations of the last hour, and starts the background JWKS refresher
// and revocation poller; both stop when ctx is done or Close is called.
//
// A failed first revocation read is not fatal (it is logged and retried
// every poll interval); a server without the revocation endpoint (404)
// turns polling off silently.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	v := &Verifier{s: s, client: newClient(s)}
	ks, err := v.fetchJWKS(ctx)
	if err != nil {
		return nil, err
	}
	v.keys.Store(ks)

	bg, cancel := context.WithCancel(ctx)
	v.cancel = cancel
	if !s.pollOff {
		// The first read is synchronous so a freshly started service
		// already refuses sessions that ended in the last hour.
		more, _ := v.pollOnce(ctx)
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			if more {
				v.pollLoop(bg)
			}
		}()
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.refreshLoop(bg)
	}()
	return v, nil
}

// Close stops the background work and waits for it to end. Verify keeps
// working afterwards with the keys and revocations known at that point.
// Close is idempotent.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.cancel()
		v.wg.Wait()
	})
}

func invalid(reason string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalidToken, reason, cause)
}

// Verify checks a token offline and returns its claims. It accepts only a
// compact JWS with one signature by a key in the server's JWKS, signed
// with that key's own algorithm (RS256, ES256 or EdDSA; never "none" or
// HMAC), with typ at+jwt, a kid, iss equal to Config.BaseURL, aud
// containing Config.Audience, sub, iat and exp present, exp and nbf
// honoured with Config.Leeway, and a session (sid) not known to be
// revoked.
//
// Verify makes no network call unless the kid is unknown, in which case
// it fetches the JWKS once (at most once per 10 s across all calls, under
// ctx) to pick up a rotated key. Tokens that passed are remembered (up to
// 10,000) while the key that signed them stays published, so a repeat
// costs an expiry and revocation check, not a signature check.
//
// Every failure wraps [ErrInvalidToken]; expired tokens also wrap
// [ErrExpired], tokens of ended sessions [ErrRevoked].
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, invalid("empty", nil)
	}
	if len(token) > maxTokenBytes {
		return nil, invalid("too large", nil)
	}
	now := time.Now()
	e, hit := v.cache.get(token)
	if hit && v.keys.Load().byKID[e.kid] != e.key {
		hit = false // the key was retired or replaced: check afresh
	}
	if hit {
		// Signature, issuer, audience, nbf and iat passed before and cannot
		// stop passing; only time and revocation move.
		if !now.Before(e.claims.ExpiresAt.Add(v.s.leeway)) {
			v.cache.drop(token)
			return nil, fmt.Errorf("%w: %w", ErrExpired, jwt.ErrExpired)
		}
	} else {
		var err error
		if e, err = v.verify(ctx, token, now); err != nil {
			return nil, err
		}
		v.cache.put(token, e)
	}
	if e.claims.SessionID != "" && v.rev.isRevoked(e.claims.SessionID) {
		return nil, ErrRevoked
	}
	return copyClaims(&e.claims, token), nil
}

// verify is the full check of a token not in the cache.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (verified, error) {
	tok, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return verified{}, invalid("malformed or algorithm not allowed", err)
	}
	if len(tok.Signatures) != 1 {
		return verified{}, invalid("want exactly one signature", nil)
	}
	h := tok.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return verified{}, invalid(fmt.Sprintf("typ %q is not %s", typ, TypeAccessToken), nil)
	}
	if h.KeyID == "" {
		return verified{}, invalid("no kid", nil)
	}
	key, ok := v.key(ctx, h.KeyID)
	if !ok {
		return verified{}, invalid("unknown kid", nil)
	}
	if jose.SignatureAlgorithm(h.Algorithm) != key.alg {
		return verified{}, invalid("alg does not match the key", nil)
	}
	payload, err := tok.Verify(key.verifier)
	if err != nil {
		return verified{}, invalid("bad signature", err)
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return verified{}, invalid("claims are not a JSON object", err)
	}
	if w.Subject == "" || w.ExpiresAt == nil || w.IssuedAt == nil {
		return verified{}, invalid("sub, exp and iat are required", nil)
	}
	std := jwt.Claims{Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience, Expiry: w.ExpiresAt,
		NotBefore: w.NotBefore, IssuedAt: w.IssuedAt, ID: w.ID}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: v.s.issuer, AnyAudience: jwt.Audience{v.s.Audience}, Time: now}, v.s.leeway)
	if errors.Is(err, jwt.ErrExpired) {
		return verified{}, fmt.Errorf("%w: %w", ErrExpired, err)
	}
	if err != nil {
		return verified{}, invalid("claims rejected", err)
	}
	return verified{kid: h.KeyID, key: key, claims: Claims{
		Subject: w.Subject, SessionID: w.SessionID, ID: w.ID, Roles: w.Roles, AMR: w.AMR,
		IssuedAt: w.IssuedAt.Time(), ExpiresAt: w.ExpiresAt.Time(), AuthTime: numericTime(w.AuthTime),
		ClientID: w.ClientID, Scope: w.Scope,
	}}, nil
}

func numericTime(n *jwt.NumericDate) time.Time {
	if n == nil {
		return time.Time{}
	}
	return n.Time()
}

// isAccessTokenType accepts "at+jwt" and "application/at+jwt", any case
// (RFC 9068 section 4, RFC 7515 section 4.1.9).
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == TypeAccessToken || typ == "application/"+TypeAccessToken
}
