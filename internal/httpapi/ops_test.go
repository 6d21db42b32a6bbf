package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestHealthReadyMetrics(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		r := e.req("GET", "/healthz", nil)
		expect(t, r, 200, "healthz")
		if r.str("status") != "ok" {
			t.Fatalf("healthz: %s", r.raw)
		}
		expect(t, e.req("GET", "/readyz", nil), 200, "readyz")
		e.signup("alice@test.com")
		e.login("alice@test.com", goodPassword)
		e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "nope nope nope"})
		m := e.req("GET", "/metrics", nil)
		expect(t, m, 200, "metrics")
		body := string(m.raw)
		for _, want := range []string{
			`gatehouse_http_requests_total{method="POST",route="POST /v1/auth/login",status="200"} 1`,
			`gatehouse_logins_total{outcome="success"} 1`,
			`gatehouse_logins_total{outcome="failure"} 1`,
			`gatehouse_http_request_duration_seconds_bucket{route="POST /v1/auth/signup"`,
			`gatehouse_password_hash_waiting`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		// Readiness fails closed once the database is gone.
		e.g.Store.Close()
		expect(t, e.req("GET", "/readyz", nil), 503, "readyz without a database")
		expect(t, e.req("GET", "/healthz", nil), 200, "healthz without a database")
	})
}

func TestJWKSMatchesAccessToken(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	r := e.req("GET", "/.well-known/jwks.json", nil)
	expect(t, r, 200, "jwks")
	if !strings.Contains(r.header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("jwks cache-control %q", r.header.Get("Cache-Control"))
	}
	keys := r.get("keys").([]any)
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	k := keys[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["d"] != nil || k["p"] != nil {
		t.Fatalf("jwk %v (must be public RS256)", k)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(s.access, ".")[0])
	var h map[string]any
	_ = json.Unmarshal(hdr, &h)
	if h["kid"] != k["kid"] || h["alg"] != "RS256" {
		t.Fatalf("token header %v vs key %v", h, k["kid"])
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(s.access, ".")[1])
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	for _, claim := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid"} {
		if c[claim] == nil {
			t.Errorf("access token lacks %s (J1-J4)", claim)
		}
	}
	if c["email"] != nil || c["name"] != nil {
		t.Errorf("access token carries PII (J3): %v", c)
	}
	expect(t, e.req("GET", "/openapi.json", nil), 200, "openapi")
}

func jwtKID(t *testing.T, tok string) string {
	t.Helper()
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.Unmarshal(hdr, &h)
	kid, _ := h["kid"].(string)
	return kid
}

// TestKeyRotation: after POST /v1/admin/keys/rotate new tokens carry the
// new kid, the JWKS publishes both keys, and tokens signed by the old key
// keep working (J7/J8).
func TestKeyRotation(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		e.signup("john@example.com")
		old := e.login("john@example.com", goodPassword)
		oldKID := jwtKID(t, old.access)
		expectProblem(t, e.req("POST", "/v1/admin/keys/rotate", nil, bearer(old.access)...), 403, "forbidden", "viewer rotates")
		r := e.req("POST", "/v1/admin/keys/rotate", nil, bearer(adm.access)...)
		expect(t, r, 200, "rotate")
		newKID := r.str("kid")
		if newKID == "" || newKID == oldKID {
			t.Fatalf("rotate answered %s", r.raw)
		}
		j := e.req("GET", "/.well-known/jwks.json", nil)
		kids := map[string]bool{}
		for _, k := range j.get("keys").([]any) {
			kids[k.(map[string]any)["kid"].(string)] = true
		}
		if !kids[oldKID] || !kids[newKID] {
			t.Fatalf("JWKS after rotation lacks a key: %v", kids)
		}
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(old.access)...), 200, "token signed by the old key")
		fresh := e.login("john@example.com", goodPassword)
		if jwtKID(t, fresh.access) != newKID {
			t.Fatal("new tokens are not signed by the new key")
		}
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(fresh.access)...), 200, "token signed by the new key")
		a := e.req("GET", "/v1/admin/audit-events?type=signing_key.rotated", nil, bearer(adm.access)...)
		if len(a.get("events").([]any)) != 1 {
			t.Fatal("rotation not audited")
		}
	})
}

// TestRotationReachesOtherReplicas: a replica that loaded its keys before
// another one rotated accepts tokens signed by the new key (it reloads
// the key set on the first unknown kid).
func TestRotationReachesOtherReplicas(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e2 := serve(t, e.cfg, nil) // a second replica on the same store
		adm := e.admin("admin@example.com")
		expect(t, e.req("POST", "/v1/admin/keys/rotate", nil, bearer(adm.access)...), 200, "rotate on replica 1")
		fresh := e.login("admin@example.com", goodPassword)
		if code := whoamiAt(t, e2.url, fresh.access); code != 200 {
			t.Fatalf("replica 2 refused a token signed by the rotated key: %d", code)
		}
	})
}

// TestRevocationFeed: logout, revocation and suspension show up in the
// feed resource servers poll; active sessions do not; the cursor pages.
func TestRevocationFeed(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		e.signup("john@example.com")
		a := e.login("john@example.com", goodPassword)
		b := e.login("john@example.com", goodPassword)
		keep := e.login("john@example.com", goodPassword)
		r := e.req("GET", "/v1/revocations", nil)
		expect(t, r, 200, "feed")
		cursor := r.str("cursor")
		if cursor == "" || len(r.get("revocations").([]any)) != 0 {
			t.Fatalf("empty feed: %s", r.raw)
		}
		expect(t, e.req("POST", "/v1/auth/logout", nil, bearer(a.access)...), 204, "logout")
		expect(t, e.req("DELETE", "/v1/me/sessions/"+b.sessionID, nil, bearer(keep.access)...), 204, "revoke")
		r = e.req("GET", "/v1/revocations?since="+cursor, nil)
		sids := map[string]bool{}
		for _, x := range r.get("revocations").([]any) {
			sids[x.(map[string]any)["sid"].(string)] = true
		}
		if len(sids) != 2 || !sids[a.sessionID] || !sids[b.sessionID] || sids[keep.sessionID] {
			t.Fatalf("feed after logout and revoke: %s", r.raw)
		}
		// The cursor stays 10 s behind the present, so an end that
		// commits late (or was stamped by a replica whose clock lags) is
		// still served: the last 10 s are repeated, never skipped.
		next := r.str("cursor")
		if c, err := time.Parse(time.RFC3339Nano, next); err != nil || c.After(time.Now().Add(-9*time.Second)) {
			t.Fatalf("cursor %q is not held 10 s behind the present (%v)", next, err)
		}
		expect(t, e.req("POST", "/v1/admin/users/"+keep.userID+"/suspend", nil, bearer(adm.access)...), 200, "suspend")
		r = e.req("GET", "/v1/revocations?since="+next, nil)
		if n := len(r.get("revocations").([]any)); n != 3 || !strings.Contains(string(r.raw), keep.sessionID) {
			t.Fatalf("feed after suspension: want the suspended session and the two recent ends again: %s", r.raw)
		}
		expectProblem(t, e.req("GET", "/v1/revocations?since=yesterday", nil), 400, "validation_failed", "bad cursor")
	})
}
