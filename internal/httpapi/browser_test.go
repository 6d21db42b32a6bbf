package httpapi_test

import (
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"strings"
	"testing"
)

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	for _, p := range []string{"/healthz", "/v1/auth/whoami", "/nope"} {
		r := e.req("GET", p, nil)
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
		if r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over http", p)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no request id", p)
		}
	}
}

func TestHTTPSPublicURL(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.HTTP.PublicURL = "https://auth.example.com" })
	e.signup("alice@test.com")
	r := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword})
	expect(t, r, 200, "login")
	if !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatal("no HSTS under https (T13)")
	}
	if len(r.cookie) != 1 || !r.cookie[0].Secure {
		t.Fatalf("cookie not Secure under https (C2): %+v", r.cookie)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	cookie := "gatehouse_session=" + s.token
	// A cross-site form post riding the cookie is refused (T8).
	r := e.req("POST", "/v1/auth/logout", nil, "Cookie", cookie, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	expectProblem(t, r, 403, "forbidden", "cross-site cookie POST")
	r = e.req("POST", "/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "hijacked password!"}, "Cookie", cookie, "Origin", "https://evil.example")
	expectProblem(t, r, 403, "forbidden", "cross-origin cookie POST without fetch metadata")
	expect(t, e.req("GET", "/v1/auth/whoami", nil, "Cookie", cookie, "Sec-Fetch-Site", "cross-site"), 200, "GET is not blocked")
	// Login CSRF too.
	expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), 403, "forbidden", "cross-site login")
	// Browsers attach Basic credentials by themselves: they do not exempt
	// a cookie request from the check.
	expectProblem(t, e.req("PATCH", "/v1/me", map[string]any{"name": "X"}, "Cookie", cookie, "Authorization", "Basic dXNlcjpwYXNz", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403, "forbidden", "cross-site cookie PATCH with Basic auth")
	// Bearer requests are not subject to CSRF (not forgeable by browsers).
	expect(t, e.req("DELETE", "/v1/me/sessions", nil, append(bearer(s.access), "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")...), 204, "bearer cross-site")
	// Same-origin and allow-listed origins pass.
	expect(t, e.req("PATCH", "/v1/me", map[string]any{"name": "A"}, "Cookie", cookie, "Sec-Fetch-Site", "same-origin"), 200, "same-origin")
	expect(t, e.req("PATCH", "/v1/me", map[string]any{"name": "B"}, "Cookie", cookie, "Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site"), 200, "allow-listed origin")
	expect(t, e.req("POST", "/v1/auth/logout", nil, "Cookie", cookie, "Origin", "http://gatehouse.test", "Sec-Fetch-Site", "same-origin"), 204, "same-origin logout")
}

func TestCORS(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	r := e.req("OPTIONS", "/v1/auth/login", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	expect(t, r, 204, "preflight")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(r.header.Values("Vary")[0]+strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight headers: %v", r.header)
	}
	r = e.req("OPTIONS", "/v1/auth/login", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("disallowed origin got CORS headers: %v", r.header)
	}
	r = e.req("GET", "/healthz", nil, "Origin", "https://evil.example")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("ACAO %q for a foreign origin (T11)", got)
	}
	r = e.req("GET", "/healthz", nil, "Origin", "https://app.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatal("allowed origin lacks ACAO")
	}
}
