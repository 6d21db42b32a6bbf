package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

const loginFailedText = "Email or password is incorrect."

// pageCSP is the policy every page must send instead of the API's.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// form posts a urlencoded form as a browser on this origin would
// (same-origin fetch metadata); hdr may override or add headers.
func (e *env) form(path string, vals url.Values, hdr ...string) resp {
	e.t.Helper()
	h := append([]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", e.url, "Sec-Fetch-Site", "same-origin"}, hdr...)
	return e.req("POST", path, vals.Encode(), h...)
}

// expectPage checks a page answer: status, HTML, the page headers, and
// that the body holds every want.
func expectPage(t *testing.T, r resp, status int, what string, want ...string) {
	t.Helper()
	expect(t, r, status, what)
	for k, v := range map[string]string{
		"Content-Type":                 "text/html; charset=utf-8",
		"Cache-Control":                "no-store",
		"Referrer-Policy":              "no-referrer",
		"Content-Security-Policy":      pageCSP,
		"X-Frame-Options":              "DENY",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           "geolocation=(), camera=(), microphone=()",
	} {
		if got := r.header.Get(k); got != v {
			t.Fatalf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	body := string(r.raw)
	if status != http.StatusSeeOther && !strings.HasPrefix(body, "<!doctype html>") {
		t.Fatalf("%s: not an HTML page: %.200s", what, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s: page lacks %q:\n%s", what, w, body)
		}
	}
}

// expectRedirect checks a 303 to location.
func expectRedirect(t *testing.T, r resp, location, what string) {
	t.Helper()
	expectPage(t, r, http.StatusSeeOther, what)
	if got := r.header.Get("Location"); got != location {
		t.Fatalf("%s: Location %q, want %q", what, got, location)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden returns the value of the named hidden input of a page.
func hidden(t *testing.T, r resp, name string) string {
	t.Helper()
	for _, m := range hiddenRE.FindAllStringSubmatch(string(r.raw), -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no hidden %q in page:\n%s", name, r.raw)
	return ""
}

// sessionCookie returns the session cookie a response set, or nil.
func sessionCookie(r resp) *http.Cookie {
	for _, c := range r.cookie {
		if c.Name == "gatehouse_session" {
			return c
		}
	}
	return nil
}

// loggedInCookie checks the cookie a sign-in page set (C1, C3, C5, C8) and
// returns it as a Cookie header value.
func loggedInCookie(t *testing.T, r resp, what string) string {
	t.Helper()
	c := sessionCookie(r)
	if c == nil || c.Value == "" {
		t.Fatalf("%s: no session cookie: %v", what, r.header.Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge < 3600 {
		t.Fatalf("%s: cookie attributes %+v", what, c)
	}
	return "gatehouse_session=" + c.Value
}

func TestPageHeadersAndAssets(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.Mail.ProductName = "Acme <ID>" })
	for _, p := range []string{"/login", "/signup", "/signup?invitation=abc", "/reset-password", "/reset-password?token=abc",
		"/verify-email", "/verify-email?token=abc", "/magic-link?token=abc"} {
		r := e.req("GET", p, nil)
		// The product name is escaped like everything else.
		expectPage(t, r, 200, "GET "+p, "Acme &lt;ID&gt;", `<link rel="stylesheet" href="/assets/gatehouse.css?v=`)
		if strings.Contains(string(r.raw), "<script") || strings.Contains(string(r.raw), " style=") {
			t.Fatalf("GET %s: scripts or inline styles in a page", p)
		}
		if len(r.cookie) != 0 {
			t.Fatalf("GET %s set a cookie", p)
		}
	}
	// The API keeps its own CSP.
	if got := e.req("GET", "/healthz", nil).header.Get("Content-Security-Policy"); got != "default-src 'none'; frame-ancestors 'none'; base-uri 'none'" {
		t.Fatalf("API CSP changed: %q", got)
	}
	css := e.req("GET", "/assets/gatehouse.css", nil)
	expect(t, css, 200, "css")
	if ct := css.header.Get("Content-Type"); ct != "text/css; charset=utf-8" || !strings.Contains(string(css.raw), ".card") {
		t.Fatalf("css: %q %.100s", ct, css.raw)
	}
	etag := css.header.Get("ETag")
	expect(t, e.req("GET", "/assets/gatehouse.css", nil, "If-None-Match", etag), 304, "css revalidation")
	// Pages are not the API: an unknown method is still a 405 with Allow.
	r := e.req("PUT", "/login", nil)
	if r.status != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT /login: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	// Whatever the user typed comes back escaped.
	r = e.form("/login", url.Values{"email": {`"><script>alert(1)</script>`}, "password": {"x"}})
	expectPage(t, r, 401, "hostile email", "&lt;script&gt;")
	if strings.Contains(string(r.raw), "<script>") {
		t.Fatal("login form echoes markup unescaped")
	}
}

func TestVerifyEmailPage(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	link := e.waitMailTo("alice@test.com", 1).link(t, "http://gatehouse.test/verify-email?token=")
	tok := link.Query().Get("token")
	// GET shows a button and redeems nothing, however often it is fetched.
	for i := 0; i < 2; i++ {
		r := e.req("GET", link.RequestURI(), nil)
		expectPage(t, r, 200, "GET verify link", `<form method="post" action="/verify-email">`, "Verify my email address")
		if hidden(t, r, "token") != tok {
			t.Fatal("the form does not carry the link's token")
		}
	}
	r := e.form("/verify-email", url.Values{"token": {tok}})
	expectPage(t, r, 200, "POST verify", "Your email address is verified")
	s := e.login("alice@test.com", goodPassword)
	if w := e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...); w.get("user", "email_verified") != true {
		t.Fatalf("not verified: %s", w.raw)
	}
	// Spent, forged, missing: the same clear error.
	forged := "A" + tok[1:]
	if tok[0] == 'A' {
		forged = "B" + tok[1:]
	}
	for what, v := range map[string]url.Values{"reuse": {"token": {tok}}, "forged": {"token": {forged}}, "missing": {}} {
		expectPage(t, e.form("/verify-email", v), 400, what, "This link is invalid or has expired", `href="/verify-email"`)
	}
	// The token in the URL of a POST is ignored (T7): only the form counts.
	expectPage(t, e.form("/verify-email?token="+url.QueryEscape(tok), url.Values{}), 400, "token in the query")

	// Without a token the page mails a new link, answering alike for
	// every address.
	expectPage(t, e.req("GET", "/verify-email", nil), 200, "resend form", `action="/verify-email/request"`)
	e.signup("bob@test.com")
	e.waitMailTo("bob@test.com", 1)
	known := e.form("/verify-email/request", url.Values{"email": {"bob@test.com"}})
	unknown := e.form("/verify-email/request", url.Values{"email": {"ghost@test.com"}})
	expectPage(t, known, 200, "resend", "If the address belongs to an account, a message is on its way.")
	if string(known.raw) != string(unknown.raw) || known.status != unknown.status {
		t.Fatal("resend answers differ for known and unknown addresses")
	}
	if tok2 := e.waitMailTo("bob@test.com", 2).link(t, "http://gatehouse.test/verify-email?token=").Query().Get("token"); tok2 == "" {
		t.Fatal("no new link")
	}
	expectPage(t, e.form("/verify-email/request", url.Values{"email": {"not an address"}}), 400, "malformed address",
		"Email address must be a valid email address.", `value="not an address"`)
}

func TestResetPasswordPage(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RateLimit.MailPerIP.N = 8 })
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1) // verification
	old := e.login("alice@test.com", goodPassword)

	expectPage(t, e.req("GET", "/reset-password", nil), 200, "forgot form", `action="/reset-password/request"`, `name="email"`)
	known := e.form("/reset-password/request", url.Values{"email": {"alice@test.com"}})
	unknown := e.form("/reset-password/request", url.Values{"email": {"ghost@test.com"}})
	expectPage(t, known, 200, "reset request", "If the address belongs to an account, a message is on its way.")
	if string(known.raw) != string(unknown.raw) || known.status != unknown.status {
		t.Fatal("reset request answers differ for known and unknown addresses")
	}
	link := e.waitMailTo("alice@test.com", 2).link(t, "http://gatehouse.test/reset-password?token=")
	tok := link.Query().Get("token")

	r := e.req("GET", link.RequestURI(), nil)
	expectPage(t, r, 200, "GET reset link", `name="password"`, `name="password_confirm"`, `autocomplete="new-password"`)
	if hidden(t, r, "token") != tok {
		t.Fatal("the form does not carry the link's token")
	}
	// Mismatch and policy failures re-show the form and spend nothing.
	expectPage(t, e.form("/reset-password", url.Values{"token": {tok}, "password": {"a fresh new passphrase"}, "password_confirm": {"something else entirely"}}),
		400, "mismatch", "The two passwords do not match.")
	r = e.form("/reset-password", url.Values{"token": {tok}, "password": {"password123"}, "password_confirm": {"password123"}})
	expectPage(t, r, 400, "common password", "Password is too common.", `aria-invalid="true"`)
	if hidden(t, r, "token") != tok {
		t.Fatal("the re-shown form lost the token")
	}
	if strings.Contains(string(r.raw), "password123") {
		t.Fatal("the rejected password was put back into the page")
	}
	const next = "a fresh new passphrase"
	r = e.form("/reset-password", url.Values{"token": {tok}, "password": {next}, "password_confirm": {next}})
	expectPage(t, r, 200, "reset", "Your password has been changed", `href="/login"`)
	expectPage(t, e.form("/reset-password", url.Values{"token": {tok}, "password": {next}, "password_confirm": {next}}), 400, "reuse",
		"This link is invalid or has expired")
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(old.token)...), 401, "old session after reset (P7)")
	// Sign in through the login page with the new password.
	r = e.form("/login", url.Values{"email": {"alice@test.com"}, "password": {next}})
	expectRedirect(t, r, "/account", "login with the new password")
	expectPage(t, e.req("GET", "/account", nil, "Cookie", loggedInCookie(t, r, "login")), 200, "account", "alice@test.com")

	// The form shares the API's limit buckets: the per-IP limit counts
	// the page's and the API's requests together.
	expectPage(t, e.form("/reset-password/request", url.Values{"email": {"bad address"}}), 400, "malformed", "must be a valid email address")
	expect(t, e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "ghost@test.com"}), 202, "API request")
	var last resp
	for i := 0; i < 8; i++ {
		last = e.form("/reset-password/request", url.Values{"email": {"ghost@test.com"}})
	}
	expectPage(t, last, 429, "over the per-IP limit", "Too many requests")
	if last.header.Get("Retry-After") == "" {
		t.Fatal("429 page without Retry-After")
	}
	expectProblem(t, e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "ghost@test.com"}), 429, "rate_limited", "API after the page used the budget")
}

func TestMagicLinkPageAndLogout(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1)
	expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "alice@test.com"}), 202, "request")
	link := e.waitMailTo("alice@test.com", 2).link(t, "http://gatehouse.test/magic-link?token=")
	tok := link.Query().Get("token")

	r := e.req("GET", link.RequestURI(), nil)
	expectPage(t, r, 200, "GET magic link", `action="/magic-link"`, "Sign me in")
	if hidden(t, r, "token") != tok || sessionCookie(r) != nil {
		t.Fatal("GET must only show the button")
	}
	expectPage(t, e.req("GET", "/magic-link", nil), 400, "no token", "This link is invalid or has expired")

	r = e.form("/magic-link", url.Values{"token": {tok}})
	expectRedirect(t, r, "/account", "POST magic link")
	cookie := loggedInCookie(t, r, "magic link")
	// L16: the browser gets the cookie, never a token in the page.
	if len(r.raw) != 0 && (strings.Contains(string(r.raw), strings.TrimPrefix(cookie, "gatehouse_session=")) || strings.Contains(string(r.raw), "token")) {
		t.Fatalf("sign-in answer shows a token: %s", r.raw)
	}
	expectPage(t, e.form("/magic-link", url.Values{"token": {tok}}), 400, "second use", "This link is invalid or has expired")

	acct := e.req("GET", "/account", nil, "Cookie", cookie)
	expectPage(t, acct, 200, "account", "Signed in as", "alice@test.com", `action="/logout"`)
	if strings.Contains(string(acct.raw), strings.TrimPrefix(cookie, "gatehouse_session=")) {
		t.Fatal("the account page shows the session token")
	}
	expect(t, e.req("GET", "/v1/auth/whoami", nil, "Cookie", cookie), 200, "the page session is an API session too")
	expectRedirect(t, e.req("GET", "/login", nil, "Cookie", cookie), "/account", "login page while signed in")
	expectPage(t, e.req("GET", "/logout", nil, "Cookie", cookie), 200, "logout confirm", `action="/logout"`, "Sign out")
	expect(t, e.req("GET", "/v1/auth/whoami", nil, "Cookie", cookie), 200, "GET /logout changed nothing")

	r = e.form("/logout", nil, "Cookie", cookie)
	expectRedirect(t, r, "/login", "logout")
	c := sessionCookie(r)
	if c == nil || c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("logout did not clear the cookie with the same attributes (C7): %+v", c)
	}
	expectProblem(t, e.req("GET", "/v1/auth/whoami", nil, "Cookie", cookie), 401, "unauthenticated", "session after logout")
	r = e.req("GET", "/account", nil, "Cookie", cookie)
	expectRedirect(t, r, "/login", "account after logout")
	if c := sessionCookie(r); c == nil || c.MaxAge >= 0 {
		t.Fatal("a dead cookie is not cleared")
	}
	expectRedirect(t, e.req("GET", "/account", nil), "/login", "account without a cookie")
	expectRedirect(t, e.req("GET", "/logout", nil), "/login", "logout page without a session")
	expectRedirect(t, e.form("/logout", nil), "/login", "logout without a session")
}

func TestLoginPage(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	expectPage(t, e.req("GET", "/login", nil), 200, "login form", `action="/login"`, `autocomplete="current-password"`, `href="/reset-password"`)

	// One answer for a wrong password and an unknown address (L3/L4).
	wrong := e.form("/login", url.Values{"email": {"alice@test.com"}, "password": {"wrong password!"}})
	unknown := e.form("/login", url.Values{"email": {"nobody@test.com"}, "password": {"wrong password!"}})
	expectPage(t, wrong, 401, "wrong password", "Email or password is incorrect.", `value="alice@test.com"`)
	expectPage(t, unknown, 401, "unknown address", "Email or password is incorrect.")
	if strings.ReplaceAll(string(wrong.raw), "alice@test.com", "X") != strings.ReplaceAll(string(unknown.raw), "nobody@test.com", "X") {
		t.Fatal("failed logins are told apart")
	}
	if sessionCookie(wrong) != nil || strings.Contains(string(wrong.raw), "wrong password!") {
		t.Fatal("a failed login set a cookie or echoed the password")
	}
	expectPage(t, e.form("/login", url.Values{"email": {"alice@test.com"}}), 400, "missing password", "Enter your email address and password.")

	r := e.form("/login", url.Values{"email": {"Alice@Test.com"}, "password": {goodPassword}})
	expectRedirect(t, r, "/account", "login")
	cookie := loggedInCookie(t, r, "login")
	expectPage(t, e.req("GET", "/account", nil, "Cookie", cookie), 200, "account", "alice@test.com")
	m := string(e.req("GET", "/metrics", nil).raw)
	if !strings.Contains(m, `gatehouse_logins_total{outcome="success"} 1`) || !strings.Contains(m, `gatehouse_logins_total{outcome="failure"} 2`) {
		t.Fatal("page logins are not counted in the login metrics")
	}

	// Failures count in the API's buckets (the success above reset them):
	// API and page failures together hit the per-account-and-IP limit.
	for i := 0; i < e.cfg.RateLimit.LoginFailuresPerKey.N-1; i++ {
		e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"})
	}
	expectPage(t, e.form("/login", url.Values{"email": {"alice@test.com"}, "password": {"wrong password!"}}), 401, "last failure", loginFailedText)
	r = e.form("/login", url.Values{"email": {"alice@test.com"}, "password": {goodPassword}})
	expectPage(t, r, 429, "limited", "Too many requests")
	if r.header.Get("Retry-After") == "" || sessionCookie(r) != nil {
		t.Fatal("429 without Retry-After, or a cookie")
	}
}

func TestLoginPageUnverified(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RequireEmailVerification = true })
	expect(t, e.req("POST", "/v1/auth/signup", map[string]any{"email": "new@example.com", "password": goodPassword}), 202, "signup")
	r := e.form("/login", url.Values{"email": {"new@example.com"}, "password": {goodPassword}})
	expectPage(t, r, 403, "unverified", "Verify your email address before signing in", `href="/verify-email"`)
	expectPage(t, e.form("/login", url.Values{"email": {"new@example.com"}, "password": {"wrong password!"}}), 401, "unverified, wrong password",
		"Email or password is incorrect.")
}

func TestSignupPage(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RateLimit.SignupPerIP.N = 6 })
	expectPage(t, e.req("GET", "/signup", nil), 200, "signup form", `action="/signup"`, `name="email"`, `name="name"`, `name="password"`)
	r := e.form("/signup", url.Values{"email": {"Alice@Test.com"}, "name": {"Alice"}, "password": {goodPassword}})
	expectPage(t, r, 200, "signup", "Account created", "alice@test.com", `href="/login"`, "We also sent you a link to verify")
	if sessionCookie(r) != nil {
		t.Fatal("signup signed the user in")
	}
	e.waitMailTo("alice@test.com", 1)
	expectPage(t, e.form("/signup", url.Values{"email": {"alice@test.com"}, "password": {goodPassword}}), 409, "taken",
		"already registered")
	r = e.form("/signup", url.Values{"email": {"bob@test.com"}, "name": {"Bob <b>"}, "password": {"password123"}})
	expectPage(t, r, 400, "weak password", "Password is too common.", `value="bob@test.com"`, `value="Bob &lt;b&gt;"`)
	expectPage(t, e.form("/signup", url.Values{"email": {"nope"}, "password": {goodPassword}}), 400, "bad address",
		"Email address must be a valid email address.")
	// Same budget as the API (signup:ip): 4 page signups so far, 2 API ones
	// reach the limit.
	e.req("POST", "/v1/auth/signup", map[string]any{"email": "c@test.com", "password": goodPassword})
	e.req("POST", "/v1/auth/signup", map[string]any{"email": "d@test.com", "password": goodPassword})
	r = e.form("/signup", url.Values{"email": {"e@test.com"}, "password": {goodPassword}})
	expectPage(t, r, 429, "signup limit", "Too many requests")
}

func TestSignupPageRequiresVerification(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RequireEmailVerification = true })
	if _, err := e.g.Identity.Bootstrap(t.Context(), identityInput("owner@example.com", "viewer")); err != nil {
		t.Fatal(err)
	}
	fresh := e.form("/signup", url.Values{"email": {"fresh@example.com"}, "password": {goodPassword}})
	taken := e.form("/signup", url.Values{"email": {"owner@example.com"}, "password": {"some other passphrase"}})
	expectPage(t, fresh, 200, "new address", "Check your email")
	expectPage(t, taken, 200, "existing address (U11)", "Check your email")
	if strings.ReplaceAll(string(fresh.raw), "fresh@", "X@") != strings.ReplaceAll(string(taken.raw), "owner@", "X@") {
		t.Fatal("signup pages tell new and existing addresses apart")
	}
	e.waitMailTo("owner@example.com", 1) // the owner is told instead
	link := e.waitMailTo("fresh@example.com", 1).link(t, "http://gatehouse.test/verify-email?token=")
	expectPage(t, e.form("/verify-email", url.Values{"token": {link.Query().Get("token")}}), 200, "verify", "Your email address is verified")
	expectRedirect(t, e.form("/login", url.Values{"email": {"fresh@example.com"}, "password": {goodPassword}}), "/account", "login after verification")
}

func TestInvitationSignupPage(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RequireEmailVerification = true })
	adm := e.admin("admin@example.com")
	expect(t, e.req("POST", "/v1/admin/invitations", map[string]any{"email": "colleague@example.com", "roles": []string{"editor"}}, bearer(adm.access)...), 201, "invite")
	link := e.waitMailTo("colleague@example.com", 1).link(t, "http://gatehouse.test/signup?invitation=")
	tok := link.Query().Get("invitation")
	r := e.req("GET", link.RequestURI(), nil)
	expectPage(t, r, 200, "GET invitation", "You have been invited")
	if hidden(t, r, "invitation") != tok {
		t.Fatal("the form does not carry the invitation")
	}
	// The page only carries the token: roles come from the stored invitation (O13).
	expectPage(t, e.form("/signup", url.Values{"email": {"intruder@example.com"}, "password": {goodPassword}, "invitation": {tok}, "roles": {"admin"}}), 400,
		"another address", "This invitation is invalid")
	r = e.form("/signup", url.Values{"email": {"colleague@example.com"}, "name": {"Col"}, "password": {goodPassword}, "invitation": {tok}})
	expectPage(t, r, 200, "invited signup", "Account created", `href="/login"`)
	if strings.Contains(string(r.raw), "verify your email") {
		t.Fatal("an invited user is asked to verify")
	}
	s := e.login("colleague@example.com", goodPassword) // verified: verification is required here
	w := e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...)
	if roles := anyStrings(w.get("roles")); len(roles) != 1 || roles[0] != "editor" {
		t.Fatalf("invited user's roles: %s", w.raw)
	}
	expectPage(t, e.form("/signup", url.Values{"email": {"colleague@example.com"}, "password": {goodPassword}, "invitation": {tok}}), 400,
		"invitation reuse", "This invitation is invalid")
}

func TestPagesCSRF(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1)
	r := e.form("/login", url.Values{"email": {"alice@test.com"}, "password": {goodPassword}})
	expectRedirect(t, r, "/account", "login")
	cookie := loggedInCookie(t, r, "login")

	// A form on another origin (even a same-site one, which would carry a
	// SameSite=Lax cookie) cannot post to the pages (T8/T9).
	for _, site := range []string{"cross-site", "same-site"} {
		for _, p := range []string{"/logout", "/login", "/signup", "/reset-password/request", "/magic-link", "/verify-email"} {
			vals := url.Values{"email": {"alice@test.com"}, "password": {goodPassword}, "token": {"x"}}
			r := e.req("POST", p, vals.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Cookie", cookie,
				"Origin", "http://evil.example", "Sec-Fetch-Site", site)
			expectProblem(t, r, 403, "forbidden", site+" POST "+p)
			if len(r.cookie) != 0 {
				t.Fatalf("%s POST %s changed the cookie", site, p)
			}
		}
	}
	// Without fetch metadata the Origin header decides.
	expectProblem(t, e.req("POST", "/logout", "", "Content-Type", "application/x-www-form-urlencoded", "Cookie", cookie, "Origin", "http://evil.example"),
		403, "forbidden", "foreign Origin")
	expectPage(t, e.req("GET", "/account", nil, "Cookie", cookie), 200, "session survived", "alice@test.com")

	// A forged magic-link POST spends nothing: the real click still works.
	expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "alice@test.com"}), 202, "magic request")
	tok := e.waitMailTo("alice@test.com", 2).link(t, "http://gatehouse.test/magic-link?token=").Query().Get("token")
	expectProblem(t, e.req("POST", "/magic-link", url.Values{"token": {tok}}.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"), 403, "forbidden", "forged magic link")
	expectRedirect(t, e.form("/magic-link", url.Values{"token": {tok}}), "/account", "real magic link")

	// The real origin passes, with fetch metadata or with Origin alone.
	expectRedirect(t, e.req("POST", "/logout", "", "Content-Type", "application/x-www-form-urlencoded", "Cookie", cookie, "Origin", e.cfg.HTTP.PublicURL),
		"/login", "same-origin logout")
	expectRedirect(t, e.req("GET", "/account", nil, "Cookie", cookie), "/login", "logged out")
}
