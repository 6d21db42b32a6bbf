package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

func TestSignupLoginWhoami(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		r := e.req("POST", "/v1/auth/signup", map[string]any{"email": "  John@Example.com ", "password": goodPassword, "first_name": "John", "last_name": "Doe"})
		expect(t, r, 201, "signup")
		if r.str("user", "email") != "john@example.com" || r.str("user", "name") != "John Doe" || r.str("user", "status") != "active" {
			t.Fatalf("user: %s", r.raw)
		}
		if roles := r.get("user", "roles").([]any); len(roles) != 1 || roles[0] != "viewer" {
			t.Fatalf("new user roles %v, want [viewer] (U13)", roles)
		}
		for _, leak := range []string{"password", "hash", "salt", goodPassword} {
			if strings.Contains(strings.ToLower(string(r.raw)), leak) {
				t.Fatalf("signup response mentions %q: %s", leak, r.raw)
			}
		}
		// Emails are unique case-insensitively (U1).
		expectProblem(t, e.req("POST", "/v1/auth/signup", map[string]any{"email": "JOHN@example.COM", "password": goodPassword}), 409, "conflict", "duplicate signup")
		// U3: fName/lName shape.
		r = e.req("POST", "/v1/auth/signup", map[string]any{"email": "rajat.verma@example.com", "password": goodPassword, "fName": "Rajat", "lName": "Verma"})
		expect(t, r, 201, "signup fName")
		if r.str("user", "first_name") != "Rajat" || r.str("user", "last_name") != "Verma" {
			t.Fatalf("fName/lName not taken: %s", r.raw)
		}

		r = e.req("POST", "/v1/auth/login", map[string]any{"email": "JOHN@EXAMPLE.COM", "password": goodPassword})
		expect(t, r, 200, "login")
		for _, k := range []string{"session_token", "access_token", "refresh_token"} {
			if r.str(k) == "" {
				t.Fatalf("login lacks %s: %s", k, r.raw)
			}
		}
		if r.str("token_type") != "Bearer" || r.get("expires_in").(float64) < 890 || r.str("session", "id") == "" || r.str("session", "expires_at") == "" {
			t.Fatalf("login body: %s", r.raw)
		}
		var cookie *http.Cookie
		for _, c := range r.cookie {
			if c.Name == "gatehouse_session" {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.Secure || cookie.Domain != "" {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, host-only, not Secure on http (C1-C6)", cookie)
		}
		if cookie.Value != r.str("session_token") || cookie.MaxAge < 86000 {
			t.Fatalf("cookie holds %q max-age %d", cookie.Value, cookie.MaxAge)
		}
		if len(r.str("session_token")) != 43 {
			t.Fatalf("session token is not 32 bytes base64url: %q", r.str("session_token"))
		}
		tok, at := r.str("session_token"), r.str("access_token")
		for name, hdr := range map[string][]string{
			"cookie":        {"Cookie", "gatehouse_session=" + tok},
			"session token": bearer(tok),
			"access token":  bearer(at),
		} {
			w := e.req("GET", "/v1/auth/whoami", nil, hdr...)
			expect(t, w, 200, "whoami by "+name)
			if w.str("user", "email") != "john@example.com" || w.str("session", "id") != r.str("session", "id") || w.get("session", "current") != true {
				t.Fatalf("whoami by %s: %s", name, w.raw)
			}
			perms := fmt.Sprint(w.get("permissions"))
			if perms != "[posts.read users.read]" || fmt.Sprint(w.get("roles")) != "[viewer]" {
				t.Fatalf("whoami by %s: roles %v permissions %s", name, w.get("roles"), perms)
			}
		}
		me := e.req("GET", "/v1/me", nil, bearer(at)...)
		expect(t, me, 200, "GET /v1/me")
		if me.str("user", "id") == "" || me.get("user", "password_hash") != nil {
			t.Fatalf("me: %s", me.raw)
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	tests := []struct {
		name       string
		hdr        []string
		wantBearer bool // WWW-Authenticate with error="invalid_token"
	}{
		{"no credential", nil, false},
		{"unknown session token", bearer(strings.Repeat("A", 43)), true},
		{"garbage bearer", bearer("not-a-token"), true},
		{"forged JWT", bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"), true},
		{"wrong scheme", []string{"Authorization", "Basic dXNlcjpwYXNz"}, true},
		{"two spaces", []string{"Authorization", "Bearer  x"}, true},
		{"unknown cookie", []string{"Cookie", "gatehouse_session=" + strings.Repeat("B", 43)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("GET", "/v1/auth/whoami", nil, tt.hdr...)
			expectProblem(t, r, 401, "unauthenticated", tt.name)
			if got := r.header.Get("WWW-Authenticate"); tt.wantBearer && got != `Bearer error="invalid_token"` {
				t.Fatalf("WWW-Authenticate %q (J9)", got)
			}
		})
	}
}

// TestLoginFailuresAreOneAnswer: unknown email, wrong password, suspended
// and locked accounts all get the same status and body (L3/L4).
func TestLoginFailuresAreOneAnswer(t *testing.T) {
	e := newEnv(t, onSQLite, func(c *config.Config) { c.RateLimit.LoginFailuresPerKey.N = 0 })
	adm := e.admin("admin@example.com")
	e.signup("alice@test.com")
	susp := e.signup("bob@mail.com")
	expect(t, e.req("POST", "/v1/admin/users/"+susp+"/suspend", nil, bearer(adm.access)...), 200, "suspend")
	e.signup("locked@mail.com")
	for i := 0; i < 5; i++ {
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "locked@mail.com", "password": "wrong password here"}), 401, "fail")
	}
	cases := map[string]map[string]any{
		"unknown email":  {"email": "nobody@example.com", "password": goodPassword},
		"wrong password": {"email": "alice@test.com", "password": "not the password"},
		"suspended":      {"email": "bob@mail.com", "password": goodPassword},
		"locked":         {"email": "locked@mail.com", "password": goodPassword},
		"invalid email":  {"email": "not-an-email", "password": goodPassword},
	}
	var first string
	for name, body := range cases {
		r := e.req("POST", "/v1/auth/login", body)
		expectProblem(t, r, 401, "invalid_credentials", name)
		if first == "" {
			first = string(r.raw)
		} else if string(r.raw) != first {
			t.Fatalf("%s answers differently:\n%s\n%s", name, r.raw, first)
		}
		if len(r.cookie) > 0 {
			t.Fatalf("%s set a cookie", name)
		}
	}
	// The real reasons are in the audit log (L5).
	a := e.req("GET", "/v1/admin/audit-events?type=login.failed&limit=200", nil, bearer(adm.access)...)
	expect(t, a, 200, "audit")
	reasons := map[string]bool{}
	for _, ev := range a.get("events").([]any) {
		reasons[ev.(map[string]any)["details"].(map[string]any)["reason"].(string)] = true
	}
	for _, want := range []string{"unknown_user", "bad_password", "suspended", "locked", "invalid_email"} {
		if !reasons[want] {
			t.Errorf("audit lacks login failure reason %q (have %v)", want, reasons)
		}
	}
	expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com"}), 400, "validation_failed", "missing password (L11)")
}

func TestLockoutAndUnlock(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, func(c *config.Config) { c.RateLimit.LoginFailuresPerKey.N = 0 })
		adm := e.admin("admin@example.com")
		id := e.signup("alice@test.com")
		for i := 0; i < 4; i++ {
			expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 401, "wrong")
		}
		// Four failures do not lock; a success resets the counter (L14).
		e.login("alice@test.com", goodPassword)
		for i := 0; i < 5; i++ {
			expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 401, "wrong")
		}
		expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}), 401, "invalid_credentials", "locked account, right password (R3)")
		u := e.req("GET", "/v1/admin/users/"+id, nil, bearer(adm.access)...)
		if u.get("user", "locked_until") == nil {
			t.Fatalf("admin view does not show the lock: %s", u.raw)
		}
		expect(t, e.req("POST", "/v1/admin/users/"+id+"/unlock", nil, bearer(adm.access)...), 200, "unlock")
		e.login("alice@test.com", goodPassword)
		a := e.req("GET", "/v1/admin/audit-events?type=user.locked&user_id="+id, nil, bearer(adm.access)...)
		if len(a.get("events").([]any)) != 1 {
			t.Fatalf("user.locked audit: %s", a.raw)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	for i := 0; i < 5; i++ {
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 401, "failure")
	}
	r := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"})
	expectProblem(t, r, 429, "rate_limited", "sixth failure in 15 minutes (R1)")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another account from the same IP is not limited by alice's failures.
	e.signup("bob@mail.com")
	e.login("bob@mail.com", goodPassword)

	e2 := newEnv(t, onSQLite, func(c *config.Config) { c.RateLimit.LoginPerIP = config.Limit{N: 3, Window: time.Minute} })
	for i := 0; i < 3; i++ {
		e2.req("POST", "/v1/auth/login", map[string]any{"email": fmt.Sprintf("u%d@x.com", i), "password": "whatever123"})
	}
	expectProblem(t, e2.req("POST", "/v1/auth/login", map[string]any{"email": "z@x.com", "password": "whatever123"}), 429, "rate_limited", "per-IP login limit")
}

func TestRefreshRotationAndReuse(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		s := e.login("alice@test.com", goodPassword)
		r := e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.refresh})
		expect(t, r, 200, "refresh")
		next := r.str("refresh_token")
		if next == "" || next == s.refresh || r.str("access_token") == "" || r.get("expires_in") == nil {
			t.Fatalf("refresh body: %s", r.raw)
		}
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(r.str("access_token"))...), 200, "new access token")
		// J14: a refresh token is not a credential elsewhere.
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(next)...), 401, "refresh token as bearer")
		// J13: the spent token again revokes the whole session.
		expectProblem(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.refresh}), 401, "unauthenticated", "reuse")
		expect(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": next}), 401, "family revoked")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.token)...), 401, "session revoked")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...), 401, "access token of revoked session (J16)")
		expectProblem(t, e.req("POST", "/v1/auth/refresh", map[string]any{}), 400, "validation_failed", "missing refresh token")
	})
}

func TestLogout(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		s := e.login("alice@test.com", goodPassword)
		r := e.req("POST", "/v1/auth/logout", nil, "Cookie", "gatehouse_session="+s.token)
		expect(t, r, 204, "logout")
		var cleared *http.Cookie
		for _, c := range r.cookie {
			if c.Name == "gatehouse_session" {
				cleared = c
			}
		}
		if cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" || !cleared.HttpOnly || cleared.Path != "/" || cleared.SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie not cleared with the same attributes (C7): %+v", cleared)
		}
		for name, hdr := range map[string][]string{"cookie": {"Cookie", "gatehouse_session=" + s.token}, "access token": bearer(s.access)} {
			expect(t, e.req("GET", "/v1/auth/whoami", nil, hdr...), 401, "after logout by "+name)
		}
		expect(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.refresh}), 401, "refresh after logout (J15)")
		expect(t, e.req("POST", "/v1/auth/logout", nil), 401, "logout without credential")
		// The session is kept as logged_out with logged_out_at (S14).
		sess, _, err := e.g.Store.GetSession(t.Context(), s.sessionID)
		if err != nil || sess.Status != "logged_out" || sess.LoggedOutAt == nil {
			t.Fatalf("stored session after logout: %+v %v", sess, err)
		}
	})
}

// TestConcurrentSignupOneEmail: many signups of one address in any case
// create exactly one user.
func TestConcurrentSignupOneEmail(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, func(c *config.Config) { c.RateLimit.Disabled = true })
		var wg sync.WaitGroup
		codes := make([]int, 12)
		for i := range codes {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				email := "race@example.com"
				if i%2 == 1 {
					email = "RACE@Example.com"
				}
				codes[i] = e.req("POST", "/v1/auth/signup", map[string]any{"email": email, "password": goodPassword}).status
			}(i)
		}
		wg.Wait()
		created := 0
		for _, c := range codes {
			switch c {
			case 201:
				created++
			case 409:
			default:
				t.Fatalf("unexpected status %d", c)
			}
		}
		if created != 1 {
			t.Fatalf("%d users created, want 1 (%v)", created, codes)
		}
	})
}

// TestNoCredentialsInQueryStrings (T7): a credential in the query string
// authenticates nothing, and query strings, which may carry one-time
// tokens, never reach the log (the path does).
func TestNoCredentialsInQueryStrings(t *testing.T) {
	var logs lockedLog
	e := newEnvWith(t, onSQLite, envOptions{log: &logs})
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	for _, q := range []string{"access_token=" + s.access, "token=" + s.token, "session_token=" + s.token, "gatehouse_session=" + s.token, "api_key=" + s.token} {
		expectProblem(t, e.req("GET", "/v1/auth/whoami?"+q, nil), 401, "unauthenticated", "whoami with ?"+strings.SplitN(q, "=", 2)[0])
		expectProblem(t, e.req("GET", "/v1/me?"+q, nil), 401, "unauthenticated", "me with ?"+strings.SplitN(q, "=", 2)[0])
	}
	const oneTime = "OneTimeTokenFromAMailLink0123456789abcdefgh"
	e.req("GET", "/verify-email?token="+oneTime, nil)
	e.req("GET", "/reset-password?token="+oneTime, nil)
	// The request line is logged as the answer ends; wait for the last.
	var log string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		log = logs.String()
		if strings.Contains(log, `"path":"/reset-password"`) || time.Now().After(deadline) {
			break
		}
	}
	for _, path := range []string{`"path":"/v1/auth/whoami"`, `"path":"/v1/me"`, `"path":"/verify-email"`, `"path":"/reset-password"`} {
		if !strings.Contains(log, path) {
			t.Fatalf("the log lacks %s: requests are not logged, so this test proves nothing:\n%s", path, log)
		}
	}
	for _, secretValue := range []string{s.access, s.token, oneTime} {
		if strings.Contains(log, secretValue) {
			t.Fatalf("a credential from a query string reached the log:\n%s", log)
		}
	}
}

// TestLoginIgnoresAPresentedSession (S17): a session cookie or bearer
// token the login request carries, even a valid one, is not adopted: the
// login answers with a new session and both stay distinct.
func TestLoginIgnoresAPresentedSession(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	planted := e.login("alice@test.com", goodPassword)
	for name, hdr := range map[string][]string{
		"cookie": {"Cookie", "gatehouse_session=" + planted.token},
		"bearer": bearer(planted.token),
	} {
		r := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}, hdr...)
		expect(t, r, 200, "login carrying a "+name)
		if r.str("session_token") == planted.token || r.str("session", "id") == planted.sessionID {
			t.Fatalf("login carrying a %s adopted the presented session: %s", name, r.raw)
		}
		var cookie string
		for _, c := range r.cookie {
			if c.Name == "gatehouse_session" {
				cookie = c.Value
			}
		}
		if cookie == "" || cookie == planted.token || cookie != r.str("session_token") {
			t.Fatalf("login carrying a %s set cookie %q; want the new session's token", name, cookie)
		}
		w := e.req("GET", "/v1/auth/whoami", nil, bearer(r.str("session_token"))...)
		expect(t, w, 200, "whoami with the new session")
		if w.str("session", "id") != r.str("session", "id") {
			t.Fatalf("whoami names session %s, want the new %s", w.str("session", "id"), r.str("session", "id"))
		}
	}
}
