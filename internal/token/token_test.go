package token

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/internal/keyset"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// memStore is the keyset's two-method store boundary, in memory.
type memStore struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (m *memStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys), nil
}

func (m *memStore) CreateSigningKey(_ context.Context, k *store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, *k)
	return nil
}

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	clk  *clock
	keys *keyset.Set
	iss  *Issuer
	ver  *Verifier
}

func newEnv(t testing.TB, alg string) *env {
	t.Helper()
	clk := &clock{t: t0}
	mk, err := keyset.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyset.New(context.Background(), &memStore{}, mk, keyset.Options{Algorithm: alg, Now: clk.Now, RetireAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		clk:  clk,
		keys: keys,
		iss:  NewIssuer(keys, testIssuer, []string{testAudience}, 0, clk.Now),
		ver:  NewVerifier(keys, testIssuer, testAudience, nil, 0, clk.Now),
	}
}

func (e *env) issue(t testing.TB, c Claims) string {
	t.Helper()
	if c.Subject == "" {
		c.Subject = "user-1"
	}
	tok, _, err := e.iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goodPayload is a claims set that would pass every check.
func goodPayload(t testing.TB) []byte {
	return mustJSON(t, map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1", "sid": "s1", "jti": "j1",
		"iat": t0.Unix(), "exp": t0.Add(10 * time.Minute).Unix(),
	})
}

// signWith signs payload with the keyset's active key under alg with the
// given extra protected headers; kid is set unless noKID.
func signWith(t testing.TB, k keyset.Key, alg jose.SignatureAlgorithm, headers map[jose.HeaderKey]any, noKID bool, payload []byte) string {
	t.Helper()
	jwk := jose.JSONWebKey{Key: k.Private, KeyID: k.KID}
	if noKID {
		jwk.KeyID = ""
	}
	opts := &jose.SignerOptions{}
	for h, v := range headers {
		opts.WithHeader(h, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{keyset.RS256, keyset.ES256, keyset.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			in := Claims{
				Subject:   "user-42",
				SessionID: "sess-7",
				Roles:     []string{"admin", "viewer"},
				AMR:       []string{"pwd", "otp"},
				AuthTime:  t0.Add(-time.Minute),
				ClientID:  "cli",
				Scope:     "openid posts.read",
			}
			tok, exp, err := e.iss.Issue(in)
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(t0.Add(DefaultTTL)) {
				t.Fatalf("exp %v, want %v", exp, t0.Add(DefaultTTL))
			}
			if !LooksLikeJWT(tok) {
				t.Fatalf("issued token does not look like a JWT: %s", tok)
			}
			hdr := decodeSegment(t, tok, 0)
			if hdr["alg"] != alg || hdr["kid"] != e.keys.Active().KID || hdr["typ"] != "at+jwt" {
				t.Fatalf("header %v", hdr)
			}
			got, err := e.ver.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Issuer != testIssuer || !slices.Equal(got.Audience, []string{testAudience}) ||
				got.Subject != in.Subject || got.SessionID != in.SessionID ||
				!slices.Equal(got.Roles, in.Roles) || !slices.Equal(got.AMR, in.AMR) ||
				!got.AuthTime.Equal(in.AuthTime) || !got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(exp) ||
				!got.NotBefore.IsZero() || len(got.ID) < 20 || got.ClientID != in.ClientID || got.Scope != in.Scope {
				t.Fatalf("claims changed in transit: %+v", got)
			}
			again := e.issue(t, in)
			if c, _ := e.ver.Verify(again); c.ID == got.ID {
				t.Fatal("jti repeated")
			}
		})
	}
}

func decodeSegment(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerifyAcceptsWithinLeeway(t *testing.T) {
	e := newEnv(t, keyset.EdDSA)
	tests := []struct {
		name string
		c    Claims
	}{
		{"expired 20s ago", Claims{IssuedAt: t0.Add(-15 * time.Minute), ExpiresAt: t0.Add(-20 * time.Second)}},
		{"not before in 20s", Claims{NotBefore: t0.Add(20 * time.Second)}},
		{"issued 20s in the future", Claims{IssuedAt: t0.Add(20 * time.Second)}},
		{"audience among several", Claims{Audience: []string{"other", testAudience}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.ver.Verify(e.issue(t, tt.c)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t, keyset.RS256)
	key := e.keys.Active()
	kid := key.KID
	atJWT := map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}

	pubDER, err := x509.MarshalPKIXPublicKey(key.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwk, _ := e.keys.PublicKey(kid)
	jwkJSON := mustJSON(t, jwk)
	hs256 := func(secret []byte) string {
		signing := b64(mustJSON(t, map[string]string{"alg": "HS256", "kid": kid, "typ": "at+jwt"})) + "." + b64(goodPayload(t))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(signing))
		return signing + "." + b64(mac.Sum(nil))
	}
	none := func(sig string) string {
		return b64(mustJSON(t, map[string]string{"alg": "none", "kid": kid, "typ": "at+jwt"})) + "." + b64(goodPayload(t)) + "." + sig
	}
	other := newEnv(t, keyset.RS256)
	valid := e.issue(t, Claims{})
	parts := strings.Split(valid, ".")

	tests := []struct {
		name    string
		token   func() string
		ver     *Verifier // default e.ver
		expired bool
	}{
		{name: "expired", expired: true, token: func() string {
			return e.issue(t, Claims{IssuedAt: t0.Add(-20 * time.Minute), ExpiresAt: t0.Add(-31 * time.Second)})
		}},
		{name: "not yet valid", token: func() string { return e.issue(t, Claims{NotBefore: t0.Add(2 * time.Minute)}) }},
		{name: "issued in the future", token: func() string {
			return e.issue(t, Claims{IssuedAt: t0.Add(2 * time.Minute)})
		}},
		{name: "wrong issuer", token: func() string { return e.issue(t, Claims{Issuer: "https://evil.test"}) }},
		{name: "wrong audience", token: func() string { return e.issue(t, Claims{Audience: []string{"https://other.test"}}) }},
		{name: "verifier expects another issuer", token: func() string { return valid },
			ver: NewVerifier(e.keys, "https://other-issuer.test", testAudience, nil, 0, e.clk.Now)},
		{name: "verifier expects another audience", token: func() string { return valid },
			ver: NewVerifier(e.keys, testIssuer, "https://other.test", nil, 0, e.clk.Now)},
		{name: "verifier without issuer", token: func() string { return valid },
			ver: NewVerifier(e.keys, "", testAudience, nil, 0, e.clk.Now)},
		{name: "verifier without audience", token: func() string { return valid },
			ver: NewVerifier(e.keys, testIssuer, "", nil, 0, e.clk.Now)},
		{name: "alg not pinned", token: func() string { return valid },
			ver: NewVerifier(e.keys, testIssuer, testAudience, []string{"ES256"}, 0, e.clk.Now)},
		{name: "alg none, empty signature", token: func() string { return none("") }},
		{name: "alg none, with signature", token: func() string { return none(parts[2]) }},
		{name: "alg none, verifier configured with none", token: func() string { return none("") },
			ver: NewVerifier(e.keys, testIssuer, testAudience, []string{"none", "RS256"}, 0, e.clk.Now)},
		{name: "HS256 keyed with the RSA public key PEM", token: func() string { return hs256(pubPEM) }},
		{name: "HS256 keyed with the PEM, verifier configured with HS256", token: func() string { return hs256(pubPEM) },
			ver: NewVerifier(e.keys, testIssuer, testAudience, []string{"RS256", "HS256"}, 0, e.clk.Now)},
		{name: "HS256 keyed with the public key DER", token: func() string { return hs256(pubDER) },
			ver: NewVerifier(e.keys, testIssuer, testAudience, []string{"HS256"}, 0, e.clk.Now)},
		{name: "HS256 keyed with the JWK JSON", token: func() string { return hs256(jwkJSON) }},
		{name: "PS256 with the RS256 key", token: func() string {
			return signWith(t, key, jose.PS256, atJWT, false, goodPayload(t))
		}, ver: NewVerifier(e.keys, testIssuer, testAudience, []string{"RS256", "PS256"}, 0, e.clk.Now)},
		{name: "unknown kid", token: func() string { return other.issue(t, Claims{}) }},
		{name: "kid of our key, signature of another", token: func() string {
			o := strings.Split(other.issue(t, Claims{}), ".")
			return parts[0] + "." + o[1] + "." + o[2]
		}},
		{name: "no kid", token: func() string { return signWith(t, key, jose.RS256, atJWT, true, goodPayload(t)) }},
		{name: "typ JWT", token: func() string {
			return signWith(t, key, jose.RS256, map[jose.HeaderKey]any{jose.HeaderType: "JWT"}, false, goodPayload(t))
		}},
		{name: "no typ", token: func() string { return signWith(t, key, jose.RS256, nil, false, goodPayload(t)) }},
		{name: "no sub", token: func() string {
			return signWith(t, key, jose.RS256, atJWT, false, mustJSON(t, map[string]any{
				"iss": testIssuer, "aud": testAudience, "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix()}))
		}},
		{name: "no exp", token: func() string {
			return signWith(t, key, jose.RS256, atJWT, false, mustJSON(t, map[string]any{
				"iss": testIssuer, "aud": testAudience, "sub": "u", "iat": t0.Unix()}))
		}},
		{name: "payload not JSON", token: func() string { return signWith(t, key, jose.RS256, atJWT, false, []byte("hello")) }},
		{name: "tampered payload", token: func() string {
			p := decodeSegment(t, valid, 1)
			p["sub"] = "admin"
			return parts[0] + "." + b64(mustJSON(t, p)) + "." + parts[2]
		}},
		{name: "tampered signature", token: func() string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[10] ^= 1
			return parts[0] + "." + parts[1] + "." + b64(sig)
		}},
		{name: "signature stripped", token: func() string { return parts[0] + "." + parts[1] + "." }},
		{name: "over 8 KiB", token: func() string {
			return e.issue(t, Claims{Roles: []string{strings.Repeat("r", MaxTokenBytes)}})
		}},
		{name: "JSON serialization", token: func() string {
			return `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
		}},
		{name: "empty", token: func() string { return "" }},
		{name: "dots", token: func() string { return ".." }},
		{name: "garbage", token: func() string { return "a.b.c" }},
		{name: "opaque token", token: func() string { return secret.MustToken().Reveal() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.ver
			if v == nil {
				v = e.ver
			}
			c, err := v.Verify(tt.token())
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
			}
			t.Logf("rejected: %v", err)
			if tt.expired != errors.Is(err, ErrExpired) {
				t.Fatalf("ErrExpired = %v, want %v (%v)", errors.Is(err, ErrExpired), tt.expired, err)
			}
		})
	}
	// The base token really is valid: the failures above are the mutations.
	if _, err := e.ver.Verify(valid); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAfterRotate(t *testing.T) {
	e := newEnv(t, keyset.ES256)
	oldKID := e.keys.Active().KID
	old := e.issue(t, Claims{})
	newKID, err := e.keys.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.issue(t, Claims{})
	if kid := decodeSegment(t, fresh, 0)["kid"]; kid != newKID || kid == oldKID {
		t.Fatalf("token after rotate signed by %v, want %s", kid, newKID)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := e.ver.Verify(tok); err != nil {
			t.Fatalf("after rotate: %v", err)
		}
	}
	// A verifier on another replica sees the new key after Reload.
	e.clk.Add(5 * time.Minute)
	if _, err := e.ver.Verify(old); err != nil {
		t.Fatalf("old token within its lifetime: %v", err)
	}
	// Once the old key is past RetireAfter (1h here) it is unknown.
	e.clk.Add(time.Hour)
	if _, err := e.ver.Verify(old); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token after retirement: %v", err)
	}
}

func TestIssueErrors(t *testing.T) {
	e := newEnv(t, keyset.EdDSA)
	tests := []struct {
		name string
		iss  *Issuer
		c    Claims
	}{
		{"no subject", e.iss, Claims{}},
		{"expiry before issue", e.iss, Claims{Subject: "u", ExpiresAt: t0.Add(-time.Second)}},
		{"no issuer", NewIssuer(e.keys, "", []string{testAudience}, 0, e.clk.Now), Claims{Subject: "u"}},
		{"no audience", NewIssuer(e.keys, testIssuer, nil, 0, e.clk.Now), Claims{Subject: "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, _, err := tt.iss.Issue(tt.c); err == nil {
				t.Fatalf("issued %s", tok)
			}
		})
	}
	if iss := NewIssuer(e.keys, testIssuer, []string{testAudience}, time.Minute, e.clk.Now); iss.TTL() != time.Minute {
		t.Fatal("TTL not kept")
	}
}

func TestCheckAlgorithms(t *testing.T) {
	tests := []struct {
		algs []string
		ok   bool
	}{
		{nil, true},
		{[]string{"RS256", "ES256", "EdDSA", "PS256"}, true},
		{[]string{"RS256", "HS256"}, false},
		{[]string{"none"}, false},
		{[]string{"rs256"}, false},
	}
	for _, tt := range tests {
		if err := CheckAlgorithms(tt.algs); (err == nil) != tt.ok {
			t.Errorf("CheckAlgorithms(%v) = %v", tt.algs, err)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", true},
		{"a.b.c", true},
		{"a.b.", false},
		{".b.c", false},
		{"..", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{"a.b c.d", false},
		{"a.b+/.c", false},
		{secret.MustToken().Reveal(), false},
		{"gh_abcdefghijklmnopqrstuvwxyz", false},
		{"", false},
		{"a.b." + strings.Repeat("c", MaxTokenBytes), false},
	}
	for _, tt := range tests {
		if got := LooksLikeJWT(tt.in); got != tt.want {
			t.Errorf("LooksLikeJWT(%.40q) = %v", tt.in, got)
		}
	}
}

func TestNewOpaque(t *testing.T) {
	a, err := NewOpaque()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewOpaque()
	if a.Value == b.Value || len(a.Value.Reveal()) != 43 || a.Hash != secret.Digest(a.Value.Reveal()) || LooksLikeJWT(a.Value.Reveal()) {
		t.Fatalf("opaque token %d chars, hash %s", len(a.Value.Reveal()), a.Hash)
	}
	if bytes.Contains(mustJSON(t, a), []byte(a.Value.Reveal())) {
		t.Fatal("opaque value leaks in JSON")
	}
}

func FuzzVerify(f *testing.F) {
	e := newEnv(f, keyset.EdDSA)
	want := Claims{Subject: "user-1", SessionID: "s1", Roles: []string{"admin"}}
	valid := e.issue(f, want)
	for _, seed := range []string{
		valid, "", ".", "..", "...", "a.b.c", "garbage",
		strings.Split(valid, ".")[0] + "..", valid[:len(valid)-5], valid + "x",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.ver.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error does not wrap ErrInvalidToken: %v", err)
			}
			return
		}
		// Only the genuine token (or an encoding of the same signed bytes)
		// may verify, and it must carry exactly what was issued.
		if c.Subject != want.Subject || c.SessionID != want.SessionID || !slices.Equal(c.Roles, want.Roles) || c.Issuer != testIssuer {
			t.Fatalf("mutated token %q verified with claims %+v", tok, c)
		}
	})
}

func benchVerify(b *testing.B, alg string) {
	e := newEnv(b, alg)
	tok := e.issue(b, Claims{SessionID: "s1", Roles: []string{"viewer"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ver.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, keyset.RS256) }
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, keyset.ES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, keyset.EdDSA) }

func BenchmarkIssueRS256(b *testing.B) {
	e := newEnv(b, keyset.RS256)
	c := Claims{Subject: "user-1", SessionID: "s1", Roles: []string{"viewer"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.iss.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}

type staticKeys map[string]jose.JSONWebKey

func (s staticKeys) PublicKey(kid string) (jose.JSONWebKey, bool) { k, ok := s[kid]; return k, ok }

// A key source that hands back something other than a public key (a
// misbehaving JWKS cache) must not make a token verify.
func TestVerifyRefusesNonPublicKeys(t *testing.T) {
	e := newEnv(t, keyset.EdDSA)
	k := e.keys.Active()
	tok := e.issue(t, Claims{})
	for name, key := range map[string]any{
		"private key":   k.Private,
		"symmetric key": []byte("0123456789abcdef0123456789abcdef"),
		"nil":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			v := NewVerifier(staticKeys{k.KID: {Key: key, KeyID: k.KID}}, testIssuer, testAudience, nil, 0, e.clk.Now)
			if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("verified with a %s: %v", name, err)
			}
		})
	}
	v := NewVerifier(staticKeys{k.KID: k.Public()}, testIssuer, testAudience, nil, 0, e.clk.Now)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("plain public JWK source: %v", err)
	}
}
