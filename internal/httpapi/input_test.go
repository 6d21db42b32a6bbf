package httpapi_test

import (
	"strings"
	"testing"
)

// TestBadInput: malformed, mistyped, oversize and hostile input gets a
// clear 4xx problem, never a 500.
func TestBadInput(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"empty body", "", 400, "validation_failed", ""},
		{"not JSON", "email=a@b.com", 400, "validation_failed", ""},
		{"truncated", `{"email": "a@b.com"`, 400, "validation_failed", ""},
		{"array", `[{"email":"a@b.com"}]`, 400, "validation_failed", ""},
		{"two objects", `{"email":"a@b.com","password":"x"}{}`, 400, "validation_failed", ""},
		{"wrong type", `{"email": 42, "password": "correct horse battery"}`, 400, "validation_failed", "email"},
		{"null email", `{"email": null, "password": "correct horse battery"}`, 400, "validation_failed", "email"},
		{"unknown field", `{"email":"a@b.com","password":"correct horse battery","isAdmin":true}`, 400, "validation_failed", "isAdmin"},
		{"deep nesting", `{"email":` + deep + `}`, 400, "validation_failed", ""},
		{"bad email", `{"email":"not an email","password":"correct horse battery"}`, 400, "validation_failed", "email"},
		{"email too long", `{"email":"` + strings.Repeat("a", 300) + `@x.com","password":"correct horse battery"}`, 400, "validation_failed", "email"},
		{"name too long", `{"email":"n@x.com","password":"correct horse battery","name":"` + strings.Repeat("n", 300) + `"}`, 400, "validation_failed", "name"},
		{"control characters", `{"email":"c@x.com","password":"correct horse battery","name":"a\u0001b"}`, 400, "validation_failed", "name"},
		{"NUL", `{"email":"c@x.com","password":"correct horse battery","name":"a\u0000b"}`, 400, "validation_failed", ""},
		{"invalid UTF-8", "{\"email\":\"u@x.com\",\"password\":\"correct horse battery\",\"name\":\"\xff\xfe\"}", 400, "validation_failed", ""},
		{"password too long", `{"email":"p@x.com","password":"` + strings.Repeat("p", 2000) + `"}`, 400, "validation_failed", "password"},
		{"missing password", `{"email":"m@x.com"}`, 400, "validation_failed", "password"},
		{"oversize body", `{"email":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "payload_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("POST", "/v1/auth/signup", tt.body)
			expectProblem(t, r, tt.status, tt.code, tt.name)
			if tt.field != "" && !strings.Contains(string(r.raw), `"field":"`+tt.field+`"`) {
				t.Fatalf("errors do not name %q: %s", tt.field, r.raw)
			}
		})
	}
	// Hostile strings in paths and queries.
	adm := e.admin("admin@example.com")
	for _, p := range []string{"/v1/admin/users/'%20OR%201=1--", "/v1/admin/users/%00", "/v1/admin/users/" + strings.Repeat("9", 500)} {
		expectProblem(t, e.req("GET", p, nil, bearer(adm.access)...), 404, "not_found", p)
	}
	for _, q := range []string{"?limit=0", "?limit=abc", "?limit=100000", "?cursor=garbage", "?query=" + strings.Repeat("q", 500)} {
		expectProblem(t, e.req("GET", "/v1/admin/users"+q, nil, bearer(adm.access)...), 400, "validation_failed", q)
	}
	r := e.req("GET", "/v1/admin/users?query=%25", nil, bearer(adm.access)...)
	expect(t, r, 200, "wildcard query")
	if n := len(r.get("users").([]any)); n != 0 {
		t.Fatalf("%% matched %d users: LIKE wildcards must be literal", n)
	}
	expectProblem(t, e.req("GET", "/v1/nope", nil), 404, "not_found", "unknown route")
	r = e.req("DELETE", "/v1/auth/login", nil)
	expectProblem(t, r, 405, "method_not_allowed", "wrong method")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}
