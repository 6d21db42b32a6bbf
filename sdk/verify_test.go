package gatehouse_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	gatehouse "github.com/gatehouse-auth/gatehouse/sdk"
)

// fakeIssuer is a stand-in Gatehouse that lets tests mint any token: a
// JWKS, a revocation feed and a check API, all under the test's control.
type fakeIssuer struct {
	url string

	mu        sync.Mutex
	published []jose.JSONWebKey
	signers   map[string]signingKey
	revs      []map[string]any
	revStatus int
	sinces    []string
	check     func(w http.ResponseWriter, r *http.Request)

	jwksHits, revHits, checkHits atomic.Int64
}

type signingKey struct {
	priv any
	alg  jose.SignatureAlgorithm
}

func newFakeIssuer(t testing.TB) *fakeIssuer {
	f := &fakeIssuer{signers: map[string]signingKey{}, revStatus: 200}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		f.mu.Lock()
		set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), f.published...)}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		f.revHits.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sinces = append(f.sinces, r.URL.Query().Get("since"))
		if f.revStatus != 200 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(f.revStatus)
			fmt.Fprintf(w, `{"status":%d,"code":"not_found","title":"Not found"}`, f.revStatus)
			return
		}
		from, _ := strconv.Atoi(r.URL.Query().Get("since"))
		out := []map[string]any{}
		if from < len(f.revs) {
			out = f.revs[from:]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"revocations": out, "cursor": strconv.Itoa(len(f.revs))})
	})
	mux.HandleFunc("POST /v1/authz/check", func(w http.ResponseWriter, r *http.Request) {
		f.checkHits.Add(1)
		f.mu.Lock()
		h := f.check
		f.mu.Unlock()
		if h == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"allowed":true,"reason":"test"}`))
			return
		}
		h(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// addKey makes a key of alg; published puts it in the JWKS.
func (f *fakeIssuer) addKey(alg jose.SignatureAlgorithm, published bool) string {
	var priv, pub any
	switch alg {
	case jose.RS256:
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		priv, pub = k, &k.PublicKey
	case jose.ES256:
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		priv, pub = k, &k.PublicKey
	case jose.EdDSA:
		p, k, _ := ed25519.GenerateKey(rand.Reader)
		priv, pub = k, p
	}
	kid := fmt.Sprintf("%s-%d", alg, time.Now().UnixNano())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signers[kid] = signingKey{priv, alg}
	if published {
		f.published = append(f.published, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"})
	}
	return kid
}

func (f *fakeIssuer) unpublish(kid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, k := range f.published {
		if k.KeyID == kid {
			f.published = append(f.published[:i], f.published[i+1:]...)
			return
		}
	}
}

func (f *fakeIssuer) revoke(sid string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revs = append(f.revs, map[string]any{"sid": sid, "revoked_at": at.UTC().Format(time.RFC3339Nano)})
}

// claims are a valid token's claims with changes; a nil value deletes.
func (f *fakeIssuer) claims(changes map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": f.url, "aud": []string{f.url}, "sub": "user-1", "sid": "sess-1",
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "jti": "j1", "roles": []string{"viewer"}, "amr": []string{"pwd"}}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// mint signs claims with the key kid under header typ; the header carries
// headerKID (which may differ from kid, or be empty).
func (f *fakeIssuer) mint(kid, headerKID, typ string, claims map[string]any) string {
	f.mu.Lock()
	k := f.signers[kid]
	f.mu.Unlock()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sk := jose.SigningKey{Algorithm: k.alg, Key: k.priv}
	if headerKID != "" {
		sk.Key = jose.JSONWebKey{Key: k.priv, KeyID: headerKID}
	}
	sig, err := jose.NewSigner(sk, opts)
	if err != nil {
		panic(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}

func (f *fakeIssuer) token(kid string, changes map[string]any) string {
	return f.mint(kid, kid, "at+jwt", f.claims(changes))
}

func (f *fakeIssuer) config() gatehouse.Config {
	return gatehouse.Config{BaseURL: f.url, RevocationPoll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

func (f *fakeIssuer) verifier(t testing.TB, cfg gatehouse.Config) *gatehouse.Verifier {
	t.Helper()
	v, err := gatehouse.NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyAlgorithms(t *testing.T) {
	f := newFakeIssuer(t)
	kids := map[jose.SignatureAlgorithm]string{}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		kids[alg] = f.addKey(alg, true)
	}
	v := f.verifier(t, f.config())
	for alg, kid := range kids {
		c, err := v.Verify(t.Context(), f.token(kid, map[string]any{"auth_time": 1700000000, "client_id": "cli", "scope": "openid"}))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if c.Subject != "user-1" || c.SessionID != "sess-1" || c.ID != "j1" || len(c.Roles) != 1 || c.AMR[0] != "pwd" ||
			c.AuthTime.Unix() != 1700000000 || c.ClientID != "cli" || c.Scope != "openid" {
			t.Fatalf("%s: claims %+v", alg, c)
		}
	}
	// "application/at+jwt" is the same type; a single-string aud works.
	if _, err := v.Verify(t.Context(), f.mint(kids[jose.EdDSA], kids[jose.EdDSA], "application/at+jwt", f.claims(map[string]any{"aud": f.url}))); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRejectsTampering: for every algorithm, a token whose payload,
// header or signature was changed, or that another key of the same type
// signed under a published kid, is refused.
func TestVerifyRejectsTampering(t *testing.T) {
	f := newFakeIssuer(t)
	type pair struct{ published, other string }
	keys := map[jose.SignatureAlgorithm]pair{}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		keys[alg] = pair{f.addKey(alg, true), f.addKey(alg, false)}
	}
	v := f.verifier(t, f.config())
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for alg, k := range keys {
		good := f.token(k.published, nil)
		if _, err := v.Verify(t.Context(), good); err != nil {
			t.Fatalf("%s: the untouched token: %v", alg, err)
		}
		parts := strings.Split(good, ".")
		notObject := f.mint(k.published, k.published, "at+jwt", nil)
		cases := map[string]string{
			"payload byte changed":          parts[0] + "." + flip(parts[1], len(parts[1])/2) + "." + parts[2],
			"payload of another token":      parts[0] + "." + strings.Split(f.token(k.published, map[string]any{"sub": "admin"}), ".")[1] + "." + parts[2],
			"signature byte changed":        parts[0] + "." + parts[1] + "." + flip(parts[2], 3),
			"signature truncated":           parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4],
			"no signature":                  parts[0] + "." + parts[1] + ".",
			"signed by another key":         f.mint(k.other, k.published, "at+jwt", f.claims(nil)),
			"claims null instead of object": notObject,
		}
		for name, tok := range cases {
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, gatehouse.ErrInvalidToken) {
				t.Errorf("%s, %s: got %v, want ErrInvalidToken", alg, name, err)
			}
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFakeIssuer(t)
	rsaKID := f.addKey(jose.RS256, true)
	ecKID := f.addKey(jose.ES256, true)
	hidden := f.addKey(jose.EdDSA, false)
	v := f.verifier(t, f.config())
	now := time.Now()

	// HMAC signed with the RSA public key as the secret: the classic
	// algorithm-confusion forgery.
	var pubDER []byte
	for _, k := range f.published {
		if k.KeyID == rsaKID {
			pubDER, _ = x509.MarshalPKIXPublicKey(k.Key)
		}
	}
	hsSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pubDER, KeyID: rsaKID}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	hs, _ := jwt.Signed(hsSigner).Claims(f.claims(nil)).Serialize()
	payload, _ := json.Marshal(f.claims(nil))
	none := b64(`{"alg":"none","typ":"at+jwt","kid":"`+rsaKID+`"}`) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."

	cases := []struct {
		name    string
		token   string
		expired bool
	}{
		{"expired", f.token(rsaKID, map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-20 * time.Minute).Unix()}), true},
		{"not yet valid", f.token(rsaKID, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()}), false},
		{"issued in the future", f.token(rsaKID, map[string]any{"iat": now.Add(5 * time.Minute).Unix()}), false},
		{"other issuer", f.token(rsaKID, map[string]any{"iss": "https://evil.example"}), false},
		{"issuer with trailing slash", f.token(rsaKID, map[string]any{"iss": f.url + "/"}), false},
		{"other audience", f.token(rsaKID, map[string]any{"aud": []string{"https://other.example"}}), false},
		{"no audience", f.token(rsaKID, map[string]any{"aud": nil}), false},
		{"no subject", f.token(rsaKID, map[string]any{"sub": nil}), false},
		{"no exp", f.token(rsaKID, map[string]any{"exp": nil}), false},
		{"no iat", f.token(rsaKID, map[string]any{"iat": nil}), false},
		{"typ JWT", f.mint(rsaKID, rsaKID, "JWT", f.claims(nil)), false},
		{"no typ", f.mint(rsaKID, rsaKID, "", f.claims(nil)), false},
		{"no kid", f.mint(rsaKID, "", "at+jwt", f.claims(nil)), false},
		{"unpublished key", f.token(hidden, nil), false},
		{"EC signature under an RSA kid", f.mint(ecKID, rsaKID, "at+jwt", f.claims(nil)), false},
		{"HS256 with the public key", hs, false},
		{"alg none", none, false},
		{"too large", f.token(rsaKID, map[string]any{"pad": string(make([]byte, 9000))}), false},
		{"two parts", "abc.def", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tc.token)
			if !errors.Is(err, gatehouse.ErrInvalidToken) {
				t.Fatalf("got %v, want ErrInvalidToken", err)
			}
			if errors.Is(err, gatehouse.ErrExpired) != tc.expired {
				t.Fatalf("ErrExpired: got %v, want %v (%v)", !tc.expired, tc.expired, err)
			}
		})
	}

	t.Run("leeway", func(t *testing.T) {
		recent := f.token(rsaKID, map[string]any{"exp": now.Add(-10 * time.Second).Unix()})
		if _, err := v.Verify(t.Context(), recent); err != nil {
			t.Fatalf("10 s past exp within the default 30 s leeway: %v", err)
		}
		cfg := f.config()
		cfg.Leeway = -1
		strict := f.verifier(t, cfg)
		if _, err := strict.Verify(t.Context(), recent); !errors.Is(err, gatehouse.ErrExpired) {
			t.Fatalf("no leeway: got %v", err)
		}
	})

	t.Run("audience config", func(t *testing.T) {
		cfg := f.config()
		cfg.Audience = "https://api.example"
		va := f.verifier(t, cfg)
		if _, err := va.Verify(t.Context(), f.token(rsaKID, map[string]any{"aud": []string{"x", "https://api.example"}})); err != nil {
			t.Fatal(err)
		}
		if _, err := va.Verify(t.Context(), f.token(rsaKID, nil)); !errors.Is(err, gatehouse.ErrInvalidToken) {
			t.Fatalf("default audience accepted by a verifier for another: %v", err)
		}
	})
}

func TestJWKSRefresh(t *testing.T) {
	f := newFakeIssuer(t)
	old := f.addKey(jose.RS256, true)
	v := f.verifier(t, f.config())
	if n := f.jwksHits.Load(); n != 1 {
		t.Fatalf("NewVerifier fetched the JWKS %d times", n)
	}

	// Rotation: the first token signed by a new key makes one fetch.
	rotated := f.addKey(jose.EdDSA, true)
	if _, err := v.Verify(t.Context(), f.token(rotated, nil)); err != nil {
		t.Fatalf("token of a rotated-in key: %v", err)
	}
	if n := f.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetches after an unknown kid: %d, want 2", n)
	}
	// More unknown kids within 10 s cause no fetch at all.
	hidden := f.addKey(jose.ES256, false)
	for range 20 {
		if _, err := v.Verify(t.Context(), f.token(hidden, nil)); !errors.Is(err, gatehouse.ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := f.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetches after forged kids: %d, want still 2", n)
	}
	if _, err := v.Verify(t.Context(), f.token(old, nil)); err != nil {
		t.Fatalf("old key still published: %v", err)
	}

	t.Run("background refresh drops retired keys", func(t *testing.T) {
		cfg := f.config()
		cfg.JWKSRefresh = 50 * time.Millisecond
		vb := f.verifier(t, cfg)
		tok := f.token(old, nil)
		if _, err := vb.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		f.unpublish(old)
		deadline := time.Now().Add(2 * time.Second)
		for {
			if _, err := vb.Verify(t.Context(), tok); errors.Is(err, gatehouse.ErrInvalidToken) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a key removed from the JWKS is still trusted")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("unusable JWKS fails NewVerifier", func(t *testing.T) {
		empty := newFakeIssuer(t)
		if _, err := gatehouse.NewVerifier(t.Context(), empty.config()); err == nil {
			t.Fatal("NewVerifier accepted a JWKS without keys")
		}
		if _, err := gatehouse.NewVerifier(t.Context(), gatehouse.Config{BaseURL: "ftp://x"}); err == nil {
			t.Fatal("NewVerifier accepted a non-http BaseURL")
		}
		if _, err := gatehouse.NewVerifier(t.Context(), gatehouse.Config{}); err == nil {
			t.Fatal("NewVerifier accepted an empty BaseURL")
		}
	})
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationPolling(t *testing.T) {
	f := newFakeIssuer(t)
	kid := f.addKey(jose.EdDSA, true)
	f.revoke("sess-old", time.Now().Add(-10*time.Minute))
	f.revoke("sess-ancient", time.Now().Add(-3*time.Hour)) // past RevokedTTL: every token long expired
	v := f.verifier(t, f.config())

	// The first read is synchronous: revocations before start are known.
	if _, err := v.Verify(t.Context(), f.token(kid, map[string]any{"sid": "sess-old"})); !errors.Is(err, gatehouse.ErrRevoked) {
		t.Fatalf("session revoked before start: %v", err)
	}
	if _, err := v.Verify(t.Context(), f.token(kid, map[string]any{"sid": "sess-ancient"})); err != nil {
		t.Fatalf("revocation older than RevokedTTL should be pruned: %v", err)
	}
	tok := f.token(kid, nil)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	f.revoke("sess-1", time.Now())
	waitFor(t, time.Second, "the revocation to reach Verify", func() bool {
		_, err := v.Verify(t.Context(), tok)
		return errors.Is(err, gatehouse.ErrRevoked)
	})
	if _, err := v.Verify(t.Context(), f.token(kid, map[string]any{"sid": "sess-2"})); err != nil {
		t.Fatalf("another session: %v", err)
	}
	if _, err := v.Verify(t.Context(), f.token(kid, map[string]any{"sid": nil})); err != nil {
		t.Fatalf("token without sid: %v", err)
	}
	f.mu.Lock()
	sinces := append([]string(nil), f.sinces...)
	f.mu.Unlock()
	if len(sinces) < 2 || sinces[0] != "" || sinces[1] != "2" {
		t.Fatalf("cursors sent: %q, want first none, then the answer's cursor", sinces)
	}

	t.Run("stops quietly on 404", func(t *testing.T) {
		old := newFakeIssuer(t)
		old.addKey(jose.EdDSA, true)
		old.revStatus = 404
		var logs syncBuffer
		cfg := old.config()
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		ov := old.verifier(t, cfg)
		time.Sleep(150 * time.Millisecond)
		if logs.String() != "" {
			t.Fatalf("logged about a missing feed: %s", logs.String())
		}
		if n := old.revHits.Load(); n != 1 {
			t.Fatalf("%d polls of a server without the feed, want 1", n)
		}
		if _, err := ov.Verify(t.Context(), old.token(old.signersKID(), nil)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("keeps polling through errors", func(t *testing.T) {
		flaky := newFakeIssuer(t)
		k := flaky.addKey(jose.EdDSA, true)
		flaky.revStatus = 500
		fv := flaky.verifier(t, flaky.config())
		waitFor(t, time.Second, "a few failed polls", func() bool { return flaky.revHits.Load() >= 3 })
		flaky.mu.Lock()
		flaky.revStatus = 200
		flaky.mu.Unlock()
		flaky.revoke("sess-1", time.Now())
		tk := flaky.token(k, nil)
		waitFor(t, time.Second, "the revocation after recovery", func() bool {
			_, err := fv.Verify(t.Context(), tk)
			return errors.Is(err, gatehouse.ErrRevoked)
		})
		// Once the feed has answered, a 404 (a proxy mid-deploy) does
		// not stop polling.
		flaky.mu.Lock()
		flaky.revStatus = 404
		flaky.mu.Unlock()
		n := flaky.revHits.Load()
		waitFor(t, time.Second, "polls after a late 404", func() bool { return flaky.revHits.Load() >= n+3 })
	})

	t.Run("disabled", func(t *testing.T) {
		off := newFakeIssuer(t)
		off.addKey(jose.EdDSA, true)
		cfg := off.config()
		cfg.RevocationPoll = -1
		off.verifier(t, cfg)
		time.Sleep(60 * time.Millisecond)
		if n := off.revHits.Load(); n != 0 {
			t.Fatalf("%d polls with polling disabled", n)
		}
	})

	t.Run("close stops polling", func(t *testing.T) {
		c := newFakeIssuer(t)
		c.addKey(jose.EdDSA, true)
		cv, err := gatehouse.NewVerifier(t.Context(), c.config())
		if err != nil {
			t.Fatal(err)
		}
		cv.Close()
		cv.Close()
		n := c.revHits.Load()
		time.Sleep(60 * time.Millisecond)
		if c.revHits.Load() != n {
			t.Fatal("polling went on after Close")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signersKID returns the one key's kid.
func (f *fakeIssuer) signersKID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for kid := range f.signers {
		return kid
	}
	return ""
}

func TestMiddlewareWithFake(t *testing.T) {
	f := newFakeIssuer(t)
	kid := f.addKey(jose.ES256, true)
	v := f.verifier(t, f.config())
	tok := f.token(kid, nil)
	h := v.Authenticate(v.RequirePermission("posts.update", func(r *http.Request) gatehouse.Resource {
		return gatehouse.Resource{Type: "post", ID: r.URL.Query().Get("id"), Attributes: map[string]any{"author": "user-1"}}
	})(okHandler))

	setCheck := func(fn func(w http.ResponseWriter, r *http.Request)) {
		f.mu.Lock()
		f.check = fn
		f.mu.Unlock()
	}
	t.Run("asks every time with the caller's token", func(t *testing.T) {
		var got []map[string]any
		setCheck(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			if r.Header.Get("Authorization") != "Bearer "+tok {
				t.Errorf("check called with %q", r.Header.Get("Authorization"))
			}
			got = append(got, body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"allowed":true,"reason":"ok"}`))
		})
		before := f.checkHits.Load()
		for range 3 {
			if w := serve(h, tok); w.Code != 200 || w.Body.String() != "user-1" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}
		if n := f.checkHits.Load() - before; n != 3 {
			t.Fatalf("%d checks for 3 requests: decisions must not be cached", n)
		}
		res, _ := got[0]["resource"].(map[string]any)
		if got[0]["action"] != "posts.update" || res["type"] != "post" || res["id"] != "1" || got[0]["subject"] != nil {
			t.Fatalf("check body %v", got[0])
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   int
		code   string
	}{
		{"denied", 200, `{"allowed":false,"reason":"no"}`, 403, "forbidden"},
		{"server error", 500, `{"status":500,"code":"internal","title":"x"}`, 503, "unavailable"},
		{"rate limited", 429, `{"status":429,"code":"rate_limited","title":"x"}`, 503, "unavailable"},
		{"unavailable", 503, ``, 503, "unavailable"},
		{"no decision in answer", 200, `{}`, 503, "unavailable"},
		{"session ended on the server", 401, `{"status":401,"code":"unauthenticated","title":"x"}`, 401, "unauthenticated"},
		{"check API refuses the resource", 400, `{"status":400,"code":"validation_failed","title":"x"}`, 500, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			hh := v.Authenticate(v.RequirePermission("posts.update", nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })))
			setCheck(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			wantProblem(t, serve(hh, tok), tc.want, tc.code)
			if ran {
				t.Fatal("the handler ran without permission")
			}
		})
	}
	t.Run("check API down", func(t *testing.T) {
		cfg := f.config()
		cfg.HTTPClient = &http.Client{Transport: failCheck{}}
		vd := f.verifier(t, cfg)
		wantProblem(t, serve(vd.Authenticate(vd.RequirePermission("posts.read", nil)(okHandler)), tok), 503, "unavailable")
	})
	t.Run("without Authenticate", func(t *testing.T) {
		wantProblem(t, serve(v.RequirePermission("posts.read", nil)(okHandler), tok), 500, "internal")
	})
	t.Run("bad action panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		v.RequirePermission("Posts Update", nil)
	})
}

func TestVerifiedCache(t *testing.T) {
	f := newFakeIssuer(t)
	kid := f.addKey(jose.EdDSA, true)
	cfg := f.config()
	cfg.Leeway = -1
	v := f.verifier(t, cfg)

	c1, err := v.Verify(t.Context(), f.token(kid, nil))
	if err != nil {
		t.Fatal(err)
	}
	tok := c1.Raw
	c1.Roles[0] = "admin"
	c2, err := v.Verify(t.Context(), tok)
	if err != nil || c2.Roles[0] != "viewer" || c2.Raw != tok || c2.Subject != "user-1" {
		t.Fatalf("second (cached) Verify: %+v %v", c2, err)
	}

	// A cached token still expires on time.
	exp := time.Now().Unix() + 2
	short := f.token(kid, map[string]any{"exp": exp, "sid": "sess-short"})
	if _, err := v.Verify(t.Context(), short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Unix(exp, 0)) + 10*time.Millisecond)
	if _, err := v.Verify(t.Context(), short); !errors.Is(err, gatehouse.ErrExpired) {
		t.Fatalf("cached token after exp: %v", err)
	}
	// A cached token of a revoked session is refused.
	f.revoke("sess-1", time.Now())
	waitFor(t, time.Second, "revocation of a cached token", func() bool {
		_, err := v.Verify(t.Context(), tok)
		return errors.Is(err, gatehouse.ErrRevoked)
	})
}

// BenchmarkVerify measures Verify on one token: "cached" is a client
// presenting the same token again (the common case), "uncached" the full
// parse and signature check of a token seen for the first time.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		for _, cached := range []bool{false, true} {
			name := string(alg) + "/uncached"
			if cached {
				name = string(alg) + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				f := newFakeIssuer(b)
				kid := f.addKey(alg, true)
				cfg := f.config()
				cfg.RevocationPoll = -1
				v, err := gatehouse.NewVerifier(b.Context(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer v.Close()
				if !cached {
					gatehouse.DisableVerifiedCache(v)
				}
				tok := f.token(kid, nil)
				ctx := b.Context()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
