package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// FuzzDecodeJSON: any body decodes or fails with a client error; nothing
// panics and nothing maps to a 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"john@example.com","password":"secret123"}`,
		`{"email":"a@b.c","password":"x","name":"J","first_name":"J","last_name":"D","fName":"J","lName":"D","invitation_token":"t"}`,
		``, `{`, `[]`, `null`, `{"email":1}`, `{"x":1}`, `{"email":"\u0000"}`, `{}{}`, "{\"name\":\"\xff\"}",
		`{"email":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`,
		`{"roles":["admin"],"attributes":{"a":{"b":[1,2,{"c":null}]}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a signupRequest
		err1 := decodeBytes(body, &a)
		var b adminPatchUserRequest
		err2 := decodeBytes(body, &b)
		for _, err := range []error{err1, err2} {
			if err == nil {
				continue
			}
			p, _ := toProblem(err)
			if p.Status != 400 || p.Code != "validation_failed" {
				t.Fatalf("decode error maps to %d %s: %v", p.Status, p.Code, err)
			}
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("not a decodeError: %v", err)
			}
		}
		if err1 == nil && !utf8.ValidString(a.Email) {
			t.Fatalf("accepted invalid UTF-8")
		}
	})
}

// FuzzBearer: the Authorization parser never panics, what it accepts is a
// single token of visible ASCII, and it calls a token a JWT exactly when
// token.LooksLikeJWT does.
func FuzzBearer(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer abc", "Bearer a.b.c", "Bearer a.b+.c", "Bearer a..c", "Bearer", "Bearer ", "Bearer  x", "Basic abc", "Bearer a b", "Bearer \x00", strings.Repeat("A", 9000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, jwt, ok := bearer(h)
		if !ok {
			return
		}
		if jwt != token.LooksLikeJWT(tok) {
			t.Fatalf("bearer(%q) says jwt=%v", h, jwt)
		}
		if tok == "" || len(h) > maxBearerLength || !strings.EqualFold(h[:7], "Bearer ") {
			t.Fatalf("accepted %q -> %q", h, tok)
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] <= ' ' || tok[i] >= 0x7f {
				t.Fatalf("accepted non-visible byte in %q", tok)
			}
		}
	})
}

func TestBusyHashingIsRateLimited(t *testing.T) {
	p, h := toProblem(fmt.Errorf("login: %w", password.ErrBusy))
	if p.Status != http.StatusTooManyRequests || p.Code != "rate_limited" || h.Get("Retry-After") != "1" {
		t.Fatalf("a full hashing queue answers %d %s, Retry-After %q (want a quick 429 with Retry-After 1)", p.Status, p.Code, h.Get("Retry-After"))
	}
	// The pool's advised wait is what Retry-After says.
	p, h = toProblem(fmt.Errorf("login: %w", &password.BusyError{RetryAfter: 4 * time.Second}))
	if p.Status != http.StatusTooManyRequests || h.Get("Retry-After") != "4" {
		t.Fatalf("a refusal advising 4s answers %d with Retry-After %q", p.Status, h.Get("Retry-After"))
	}
}

func TestFailedHashWorkerIsUnavailable(t *testing.T) {
	p, h := toProblem(fmt.Errorf("login: verify password: %w: read: EOF", password.ErrWorker))
	if p.Status != http.StatusServiceUnavailable || p.Code != "unavailable" || h.Get("Retry-After") == "" || strings.Contains(p.Detail, "EOF") {
		t.Fatalf("a failed hash worker answers %d %s %q (want 503 unavailable with Retry-After, no cause)", p.Status, p.Code, p.Detail)
	}
}

func TestToProblemNeverLeaks(t *testing.T) {
	p, _ := toProblem(errors.New("pq: password authentication failed for user secret-db-user"))
	if p.Status != http.StatusInternalServerError || p.Detail != "" || p.Code != "internal" {
		t.Fatalf("unexpected problem %+v", p)
	}
}
