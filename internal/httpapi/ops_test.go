package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
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
