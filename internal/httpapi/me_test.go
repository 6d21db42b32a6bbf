package httpapi_test

import (
	"strings"
	"testing"
)

func TestMySessions(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		e.signup("bob@mail.com")
		a1 := e.login("alice@test.com", goodPassword)
		a2 := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}, "User-Agent", "phone/1.0")
		expect(t, a2, 200, "second login")
		a3 := e.login("alice@test.com", goodPassword)
		bob := e.login("bob@mail.com", goodPassword)

		r := e.req("GET", "/v1/me/sessions", nil, bearer(a1.access)...)
		expect(t, r, 200, "list")
		ss := r.get("sessions").([]any)
		if len(ss) != 3 {
			t.Fatalf("%d sessions, want 3 (S15): %s", len(ss), r.raw)
		}
		current, phone := 0, 0
		for _, x := range ss {
			m := x.(map[string]any)
			for _, k := range []string{"id", "status", "ip_address", "user_agent", "created_at", "last_seen_at", "expires_at", "current"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("session lacks %s: %v", k, m)
				}
			}
			if m["current"] == true {
				current++
				if m["id"] != a1.sessionID {
					t.Fatal("wrong session marked current")
				}
			}
			if m["user_agent"] == "phone/1.0" && m["ip_address"] == "127.0.0.1" {
				phone++
			}
		}
		if current != 1 || phone != 1 {
			t.Fatalf("current=%d phone=%d: %s", current, phone, r.raw)
		}
		// Someone else's session id is not found, not revocable.
		expectProblem(t, e.req("DELETE", "/v1/me/sessions/"+bob.sessionID, nil, bearer(a1.access)...), 404, "not_found", "other user's session")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(bob.token)...), 200, "bob untouched")
		expectProblem(t, e.req("DELETE", "/v1/me/sessions/not-a-uuid", nil, bearer(a1.access)...), 404, "not_found", "bad id")

		expect(t, e.req("DELETE", "/v1/me/sessions/"+a2.str("session", "id"), nil, bearer(a1.access)...), 204, "revoke one")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(a2.str("session_token"))...), 401, "revoked session")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(a2.str("access_token"))...), 401, "revoked session's access token")
		expect(t, e.req("DELETE", "/v1/me/sessions", nil, bearer(a1.access)...), 204, "revoke others")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(a3.token)...), 401, "other session revoked")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(a1.token)...), 200, "current kept")
		r = e.req("GET", "/v1/me/sessions", nil, bearer(a1.access)...)
		if n := len(r.get("sessions").([]any)); n != 1 {
			t.Fatalf("%d sessions after revoking others", n)
		}
	})
}

func TestChangePassword(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		cur := e.login("alice@test.com", goodPassword)
		other := e.login("alice@test.com", goodPassword)
		const next = "a brand new passphrase"
		expectProblem(t, e.req("POST", "/v1/me/password", map[string]any{"current_password": "wrong one!", "new_password": next}, bearer(cur.access)...), 401, "invalid_credentials", "wrong current")
		r := e.req("POST", "/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "password123"}, bearer(cur.access)...)
		expectProblem(t, r, 400, "validation_failed", "common password (U16)")
		if !strings.Contains(string(r.raw), "new_password") {
			t.Fatalf("error does not name the field: %s", r.raw)
		}
		expectProblem(t, e.req("POST", "/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "short"}, bearer(cur.access)...), 400, "validation_failed", "too short")
		expect(t, e.req("POST", "/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": next}, bearer(cur.access)...), 204, "change")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(cur.token)...), 200, "current session kept")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(other.token)...), 401, "other session revoked (P7)")
		expect(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": other.refresh}), 401, "other refresh token dead (P7)")
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}), 401, "old password")
		e.login("alice@test.com", next)
	})
}

func TestProfile(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	r := e.req("PATCH", "/v1/me", map[string]any{"name": "Alice A.", "first_name": "Alice"}, bearer(s.access)...)
	expect(t, r, 200, "patch")
	if r.str("user", "name") != "Alice A." || r.str("user", "first_name") != "Alice" || r.str("user", "last_name") != "" {
		t.Fatalf("patched user: %s", r.raw)
	}
	// U12: role, status, email_verified are not client-settable.
	for _, field := range []string{"role", "roles", "status", "email_verified", "id"} {
		r := e.req("PATCH", "/v1/me", map[string]any{field: "admin"}, bearer(s.access)...)
		expectProblem(t, r, 400, "validation_failed", "mass assignment of "+field)
	}
	r = e.req("POST", "/v1/auth/signup", map[string]any{"email": "mallory@example.com", "password": goodPassword, "role": "admin"})
	expectProblem(t, r, 400, "validation_failed", "signup with a role")
	expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "mallory@example.com", "password": goodPassword}), 401, "no half-created user")
	w := e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...)
	if w.str("user", "name") != "Alice A." {
		t.Fatalf("whoami does not see the new name at once: %s", w.raw)
	}
}

func TestChangePasswordGuessingIsLimited(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	for i := 0; i < 5; i++ {
		expect(t, e.req("POST", "/v1/me/password", map[string]any{"current_password": "guess number " + string(rune('a'+i)), "new_password": "a brand new passphrase"}, bearer(s.access)...), 401, "wrong guess")
	}
	r := e.req("POST", "/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "a brand new passphrase"}, bearer(s.access)...)
	expectProblem(t, r, 429, "rate_limited", "sixth attempt with a stolen session")
}
