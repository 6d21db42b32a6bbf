package httpapi_test

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// received is one mail read from the dev outbox as a user would.
type received struct {
	to, subject, text, html string
}

// link returns the first line of the text part that starts with prefix.
func (m received) link(t *testing.T, prefix string) *url.URL {
	t.Helper()
	for _, line := range strings.Split(m.text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, prefix) {
			u, err := url.Parse(line)
			if err != nil {
				t.Fatalf("bad link %q: %v", line, err)
			}
			return u
		}
	}
	t.Fatalf("no %s link in mail %q:\n%s", prefix, m.subject, m.text)
	return nil
}

// outbox lists the .eml files in order.
func (e *env) outbox() []string {
	files, _ := filepath.Glob(filepath.Join(e.cfg.DataDir, "outbox", "*.eml"))
	sort.Strings(files)
	return files
}

// waitMail waits for the n-th mail (1-based) to land in the outbox and
// parses it.
func (e *env) waitMail(n int) received {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files := e.outbox()
		if len(files) >= n {
			return parseMail(e.t, files[n-1])
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("mail %d never arrived (%d in the outbox)", n, len(files))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailsTo parses every mail in the outbox addressed to addr.
func (e *env) mailsTo(addr string) []received {
	var out []received
	for _, f := range e.outbox() {
		if m := parseMail(e.t, f); strings.EqualFold(m.to, addr) {
			out = append(out, m)
		}
	}
	return out
}

func parseMail(t testing.TB, path string) received {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s is not RFC 5322: %v", path, err)
	}
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		t.Fatalf("To: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	out := received{to: to.Address, subject: subject}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("mail is not multipart: %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			r = quotedprintable.NewReader(p)
		case "base64":
			t.Fatalf("unexpected base64 part (decode it if the library changes)")
		}
		b, _ := io.ReadAll(r)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			out.text = string(b)
		case "text/html":
			out.html = string(b)
		}
	}
	if out.text == "" {
		t.Fatalf("mail %q has no text/plain part", subject)
	}
	return out
}

func TestEmailVerification(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		id := e.signup("alice@test.com")
		m := e.waitMail(1)
		if m.to != "alice@test.com" || !strings.Contains(m.subject, "Verify") || m.html == "" {
			t.Fatalf("verification mail: %+v", m)
		}
		link := m.link(t, "http://gatehouse.test/verify-email?token=")
		tok := link.Query().Get("token")
		if len(tok) < 43 {
			t.Fatalf("token %q is shorter than 32 bytes (O4)", tok)
		}
		r := e.req("POST", "/v1/auth/verify-email", map[string]any{"token": tok})
		expect(t, r, 200, "verify")
		if r.get("user", "email_verified") != true || r.str("user", "id") != id {
			t.Fatalf("verify: %s", r.raw)
		}
		expectProblem(t, e.req("POST", "/v1/auth/verify-email", map[string]any{"token": tok}), 400, "validation_failed", "second use (O9)")
		expectProblem(t, e.req("POST", "/v1/auth/verify-email", map[string]any{"token": "forged" + tok[6:]}), 400, "validation_failed", "forged token")
		// Request again: answered 202 for known and unknown alike; an
		// already verified address gets no mail.
		for _, addr := range []string{"alice@test.com", "nobody@example.com"} {
			r := e.req("POST", "/v1/auth/verify-email/request", map[string]any{"email": addr})
			expect(t, r, 202, "request "+addr)
		}
		e.signup("bob@mail.com")
		e.waitMail(2)
		expect(t, e.req("POST", "/v1/auth/verify-email/request", map[string]any{"email": "BOB@mail.com"}), 202, "request bob")
		m = e.waitMail(3)
		if m.to != "bob@mail.com" {
			t.Fatalf("re-sent verification went to %s", m.to)
		}
		time.Sleep(100 * time.Millisecond)
		if len(e.mailsTo("nobody@example.com")) != 0 || len(e.mailsTo("alice@test.com")) != 1 {
			t.Fatal("mail sent for an unknown or verified address")
		}
	})
}

// waitMailTo waits until addr has received n mails and returns the n-th.
func (e *env) waitMailTo(addr string, n int) received {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ms := e.mailsTo(addr); len(ms) >= n {
			return ms[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("mail %d to %s never arrived", n, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRequireEmailVerification(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, func(c *config.Config) { c.RequireEmailVerification = true })
		if _, err := e.g.Identity.Bootstrap(t.Context(), identityInput("owner@example.com", "viewer")); err != nil {
			t.Fatal(err)
		}
		fresh := e.req("POST", "/v1/auth/signup", map[string]any{"email": "new@example.com", "password": goodPassword})
		taken := e.req("POST", "/v1/auth/signup", map[string]any{"email": "OWNER@example.com", "password": "some other passphrase"})
		expect(t, fresh, 202, "signup of a new address")
		expect(t, taken, 202, "signup of an existing address (U11)")
		if string(fresh.raw) != string(taken.raw) || fresh.str("status") != "verification_required" {
			t.Fatalf("answers differ:\n%s\n%s", fresh.raw, taken.raw)
		}
		// The owner learns of the attempt by mail; the requester learns nothing.
		notice := e.waitMailTo("owner@example.com", 1)
		if !strings.Contains(strings.ToLower(notice.subject+notice.text), "sign up") {
			t.Fatalf("owner notice: %q %q", notice.subject, notice.text)
		}
		expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "new@example.com", "password": goodPassword}), 403, "forbidden", "login before verification")
		expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "new@example.com", "password": "wrong password!"}), 401, "invalid_credentials", "wrong password, unverified")
		m := e.waitMailTo("new@example.com", 1)
		tok := m.link(t, "http://gatehouse.test/verify-email?token=").Query().Get("token")
		expect(t, e.req("POST", "/v1/auth/verify-email", map[string]any{"token": tok}), 200, "verify")
		e.login("new@example.com", goodPassword)
	})
}

func TestPasswordReset(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		e.waitMailTo("alice@test.com", 1) // verification
		s1 := e.login("alice@test.com", goodPassword)
		known := e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "Alice@Test.com"})
		unknown := e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "ghost@test.com"})
		expect(t, known, 202, "reset request")
		expect(t, unknown, 202, "reset request for an unknown address")
		if string(known.raw) != string(unknown.raw) {
			t.Fatalf("reset answers differ: %s vs %s", known.raw, unknown.raw)
		}
		expectProblem(t, e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "not an address"}), 400, "validation_failed", "malformed address")
		first := e.waitMailTo("alice@test.com", 2)
		expect(t, e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "alice@test.com"}), 202, "second request")
		second := e.waitMailTo("alice@test.com", 3)
		tok1 := first.link(t, "http://gatehouse.test/reset-password?token=").Query().Get("token")
		tok2 := second.link(t, "http://gatehouse.test/reset-password?token=").Query().Get("token")
		if tok1 == tok2 {
			t.Fatal("two reset mails carry the same token")
		}
		expectProblem(t, e.req("POST", "/v1/auth/password-reset", map[string]any{"token": tok2, "new_password": "password123"}), 400, "validation_failed", "common new password")
		const next = "a fresh new passphrase"
		expect(t, e.req("POST", "/v1/auth/password-reset", map[string]any{"token": tok2, "new_password": next}), 204, "reset")
		// O14/P7: every session and refresh token is gone, and the other
		// reset token is dead.
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s1.token)...), 401, "old session after reset")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s1.access)...), 401, "old access token after reset")
		expect(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s1.refresh}), 401, "old refresh after reset")
		expectProblem(t, e.req("POST", "/v1/auth/password-reset", map[string]any{"token": tok1, "new_password": "yet another passphrase"}), 400, "validation_failed", "other reset token")
		expectProblem(t, e.req("POST", "/v1/auth/password-reset", map[string]any{"token": tok2, "new_password": "yet another passphrase"}), 400, "validation_failed", "reused token")
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}), 401, "old password")
		e.login("alice@test.com", next)
		time.Sleep(100 * time.Millisecond)
		if len(e.mailsTo("ghost@test.com")) != 0 {
			t.Fatal("a reset mail went to an unknown address")
		}
	})
}

func TestMagicLink(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		e.signup("alice@test.com")
		e.waitMailTo("alice@test.com", 1)
		expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "alice@test.com"}), 202, "request")
		expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "nobody@test.com"}), 202, "request unknown")
		m := e.waitMailTo("alice@test.com", 2)
		tok := m.link(t, "http://gatehouse.test/magic-link?token=").Query().Get("token")
		r := e.req("POST", "/v1/auth/magic-link", map[string]any{"token": tok})
		expect(t, r, 200, "magic link login")
		if r.str("access_token") == "" || r.str("session_token") == "" || r.str("refresh_token") == "" || len(r.cookie) == 0 {
			t.Fatalf("magic link answer is not a login: %s", r.raw)
		}
		// Following the link proved the address.
		if r.get("user", "email_verified") != true {
			t.Fatalf("magic link did not verify the address: %s", r.raw)
		}
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(r.str("access_token"))...), 200, "whoami")
		expectProblem(t, e.req("POST", "/v1/auth/magic-link", map[string]any{"token": tok}), 401, "invalid_credentials", "second use")
	})
}

// TestLoginIsRecordedOnTheUser: every login, by password or by magic
// link, resets the failure count and records when it happened (L14), as
// an admin sees it.
func TestLoginIsRecordedOnTheUser(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, func(c *config.Config) { c.RateLimit.LoginFailuresPerKey.N = 0 })
		adm := e.admin("admin@example.com")
		id := e.signup("alice@test.com")
		e.waitMailTo("alice@test.com", 1) // verification
		view := func(what string) resp {
			t.Helper()
			r := e.req("GET", "/v1/admin/users/"+id, nil, bearer(adm.access)...)
			expect(t, r, 200, what)
			return r
		}
		if r := view("before any login"); r.get("user", "last_login_at") != nil {
			t.Fatalf("last_login_at before any login: %s", r.raw)
		}
		for range 2 {
			expectProblem(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 401, "invalid_credentials", "wrong password")
		}
		if r := view("after two failures"); r.get("user", "failed_login_attempts") != 2.0 {
			t.Fatalf("failed_login_attempts after two failures: %s", r.raw)
		}

		before := time.Now().Add(-time.Second)
		e.login("alice@test.com", goodPassword)
		r := view("after a password login")
		first, err := time.Parse(time.RFC3339Nano, r.str("user", "last_login_at"))
		if err != nil || first.Before(before) || r.get("user", "failed_login_attempts") != 0.0 {
			t.Fatalf("after a password login: last_login_at %q (%v), want after %v, and no failures: %s", r.str("user", "last_login_at"), err, before, r.raw)
		}

		time.Sleep(10 * time.Millisecond)
		expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "alice@test.com"}), 202, "magic link request")
		tok := e.waitMailTo("alice@test.com", 2).link(t, "http://gatehouse.test/magic-link?token=").Query().Get("token")
		expect(t, e.req("POST", "/v1/auth/magic-link", map[string]any{"token": tok}), 200, "magic link login")
		r = view("after a magic link login")
		second, err := time.Parse(time.RFC3339Nano, r.str("user", "last_login_at"))
		if err != nil || !second.After(first) {
			t.Fatalf("after a magic link login: last_login_at %q (%v), want after %v", r.str("user", "last_login_at"), err, first)
		}
	})
}

func TestInvitation(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		e.signup("viewer@example.com")
		v := e.login("viewer@example.com", goodPassword)
		expectProblem(t, e.req("POST", "/v1/admin/invitations", map[string]any{"email": "x@example.com"}, bearer(v.access)...), 403, "forbidden", "viewer invites (O3)")
		expectProblem(t, e.req("POST", "/v1/admin/invitations", map[string]any{"email": "x@example.com", "roles": []string{"nope"}}, bearer(adm.access)...), 400, "validation_failed", "unknown role")
		expectProblem(t, e.req("POST", "/v1/admin/invitations", map[string]any{"email": "viewer@example.com"}, bearer(adm.access)...), 409, "conflict", "existing account")
		r := e.req("POST", "/v1/admin/invitations", map[string]any{"email": "Colleague@Example.com", "roles": []string{"editor"}, "metadata": map[string]any{"team": "blue"}}, bearer(adm.access)...)
		expect(t, r, 201, "invite")
		if r.str("invitation", "email") != "colleague@example.com" || r.str("invitation", "expires_at") == "" || strings.Contains(string(r.raw), "token") {
			t.Fatalf("invitation answer: %s", r.raw)
		}
		m := e.waitMailTo("colleague@example.com", 1)
		link := m.link(t, "http://gatehouse.test/signup?invitation=")
		tok := link.Query().Get("invitation")
		// The link carries only the token: tampering with the URL cannot add roles (O13).
		if len(link.Query()) != 1 {
			t.Fatalf("invitation link carries more than the token: %s", link)
		}
		expectProblem(t, e.req("POST", "/v1/auth/signup", map[string]any{"email": "intruder@example.com", "password": goodPassword, "invitation_token": tok}), 400, "validation_failed", "invitation for another address")
		r = e.req("POST", "/v1/auth/signup", map[string]any{"email": "colleague@example.com", "password": goodPassword, "name": "Col", "invitation_token": tok})
		expect(t, r, 201, "signup with invitation")
		roles := r.get("user", "roles").([]any)
		if len(roles) != 1 || roles[0] != "editor" || r.get("user", "email_verified") != true {
			t.Fatalf("invited user: %s", r.raw)
		}
		expectProblem(t, e.req("POST", "/v1/auth/signup", map[string]any{"email": "colleague2@example.com", "password": goodPassword, "invitation_token": tok}), 400, "validation_failed", "invitation reuse")
		s := e.login("colleague@example.com", goodPassword)
		w := e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...)
		if !strings.Contains(strings.Join(anyStrings(w.get("permissions")), ","), "posts.update") {
			t.Fatalf("invited editor lacks editor permissions: %s", w.raw)
		}
	})
}

func anyStrings(v any) []string {
	var out []string
	if xs, ok := v.([]any); ok {
		for _, x := range xs {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestLoginNotices(t *testing.T) {
	bothStores(t, testLoginNotices)
}

func testLoginNotices(t *testing.T, kind storeKind) {
	e := newEnv(t, kind, func(c *config.Config) { c.RateLimit.LoginFailuresPerKey.N = 0 })
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1)       // verification
	e.login("alice@test.com", goodPassword) // first login: no notice
	e.login("alice@test.com", goodPassword) // same device: no notice
	r := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}, "User-Agent", "NewPhone/2.0")
	expect(t, r, 200, "login from a new device")
	m := e.waitMailTo("alice@test.com", 2)
	if !strings.Contains(m.text, "NewPhone/2.0") || !strings.Contains(m.text, "127.0.0.1") {
		t.Fatalf("new-device notice (R5): %q\n%s", m.subject, m.text)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(e.mailsTo("alice@test.com")); n != 2 {
		t.Fatalf("%d mails; known devices must not trigger notices", n)
	}
	// The new device is known from now on; an old one still is.
	e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": goodPassword}, "User-Agent", "NewPhone/2.0")
	e.login("alice@test.com", goodPassword)
	time.Sleep(200 * time.Millisecond)
	if n := len(e.mailsTo("alice@test.com")); n != 2 {
		t.Fatalf("%d mails after logins from two known devices; want still 2", n)
	}
	// Lockout sends a notice too (R3).
	for i := 0; i < 5; i++ {
		e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"})
	}
	m = e.waitMailTo("alice@test.com", 3)
	if !strings.Contains(strings.ToLower(m.subject), "lock") {
		t.Fatalf("lockout notice: %q", m.subject)
	}
}

func TestMailRequestLimits(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1)
	// Per address: the answer stays 202 but mails stop after the limit.
	for i := 0; i < 8; i++ {
		expect(t, e.req("POST", "/v1/auth/password-reset/request", map[string]any{"email": "alice@test.com"}), 202, "reset request")
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(e.mailsTo("alice@test.com")) - 1; n != e.cfg.RateLimit.MailPerAddress.N {
		t.Fatalf("%d reset mails, want the per-address limit %d", n, e.cfg.RateLimit.MailPerAddress.N)
	}
	// Per IP: 429 with Retry-After.
	var last resp
	for i := 0; i < e.cfg.RateLimit.MailPerIP.N+1; i++ {
		last = e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "someone@example.com"})
	}
	expectProblem(t, last, 429, "rate_limited", "mail requests per IP")
}
