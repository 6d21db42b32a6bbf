package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAuthzCheck(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		ad := bearer(adm.access)
		e.signup("john@example.com")
		john := e.login("john@example.com", goodPassword)
		jb := bearer(john.access)

		check := func(hdr []string, body map[string]any) resp {
			t.Helper()
			r := e.req("POST", "/v1/authz/check", body, hdr...)
			expect(t, r, 200, fmt.Sprint("check ", body))
			return r
		}
		post42 := map[string]any{"type": "post", "id": "42"}
		// Default deny (Z15), with a reason.
		r := check(jb, map[string]any{"action": "posts.update", "resource": post42})
		if r.get("allowed") != false || r.str("reason") == "" {
			t.Fatalf("viewer may update: %s", r.raw)
		}
		// RBAC.
		r = check(jb, map[string]any{"action": "posts.read", "resource": post42})
		if r.get("allowed") != true || !strings.Contains(r.str("reason"), "viewer") {
			t.Fatalf("viewer may not read: %s", r.raw)
		}
		// ACL tuple: john may posts.update post 42 (Z12).
		rel := map[string]any{"subject": map[string]any{"type": "user", "id": john.userID}, "permission": "posts.update", "resource": post42}
		expect(t, e.req("POST", "/v1/admin/relations", rel, ad...), 201, "grant relation")
		expectProblem(t, e.req("POST", "/v1/admin/relations", rel, ad...), 409, "conflict", "duplicate relation")
		r = check(jb, map[string]any{"action": "posts.update", "resource": post42})
		if r.get("allowed") != true || !strings.Contains(r.str("reason"), "relation") {
			t.Fatalf("relation not honoured: %s", r.raw)
		}
		if r := check(jb, map[string]any{"action": "posts.update", "resource": map[string]any{"type": "post", "id": "43"}}); r.get("allowed") != false {
			t.Fatal("relation leaked to another resource")
		}
		lr := e.req("GET", "/v1/admin/relations?resource=post:42", nil, ad...)
		if n := len(lr.get("relations").([]any)); n != 1 {
			t.Fatalf("relations list: %s", lr.raw)
		}
		expect(t, e.req("DELETE", "/v1/admin/relations", rel, ad...), 204, "revoke relation")
		if r := check(jb, map[string]any{"action": "posts.update", "resource": post42}); r.get("allowed") != false {
			t.Fatal("revoked relation still allows")
		}
		// Ownership via the seeded policy (Z9).
		own := map[string]any{"type": "post", "id": "9", "attributes": map[string]any{"author_id": john.userID}}
		if r := check(jb, map[string]any{"action": "posts.update", "resource": own}); r.get("allowed") != true {
			t.Fatalf("author cannot edit own post: %s", r.raw)
		}
		// Asking about another subject needs authz.check.
		expectProblem(t, e.req("POST", "/v1/authz/check", map[string]any{"subject": adm.userID, "action": "posts.read", "resource": post42}, jb...), 403, "forbidden", "viewer asks about admin")
		r = check(ad, map[string]any{"subject": map[string]any{"type": "user", "id": john.userID}, "action": "posts.delete", "resource": post42})
		if r.get("allowed") != false {
			t.Fatalf("admin's check about john: %s", r.raw)
		}
		expectProblem(t, e.req("POST", "/v1/authz/check", map[string]any{"subject": "01a20000-0000-7000-8000-000000000000", "action": "posts.read", "resource": post42}, ad...), 404, "not_found", "unknown subject")
		// Role change takes effect on the very next check, even for an
		// access token issued before it (S19, Z16).
		expect(t, e.req("PUT", "/v1/admin/users/"+john.userID+"/roles", map[string]any{"roles": []string{"editor"}}, ad...), 200, "promote")
		if r := check(jb, map[string]any{"action": "posts.update", "resource": post42}); r.get("allowed") != true {
			t.Fatalf("promotion not applied at once: %s", r.raw)
		}
		// Direct permission (Z11).
		expect(t, e.req("POST", "/v1/admin/permissions", map[string]any{"name": "reports.export", "description": "Export reports"}, ad...), 201, "new permission")
		r = e.req("PUT", "/v1/admin/users/"+john.userID+"/permissions", map[string]any{"permissions": []string{"reports.export"}}, ad...)
		expect(t, r, 200, "direct grant")
		if r := check(jb, map[string]any{"action": "reports.export", "resource": map[string]any{"type": "report"}}); r.get("allowed") != true || !strings.Contains(r.str("reason"), "directly") {
			t.Fatalf("direct grant: %s", r.raw)
		}
		w := e.req("GET", "/v1/auth/whoami", nil, jb...)
		if !strings.Contains(fmt.Sprint(w.get("permissions")), "reports.export") {
			t.Fatalf("whoami lacks the direct grant: %s", w.raw)
		}
		// Batch, in order.
		b := e.req("POST", "/v1/authz/check-batch", map[string]any{"checks": []any{
			map[string]any{"action": "posts.read", "resource": post42},
			map[string]any{"action": "posts.delete", "resource": post42},
			map[string]any{"action": "reports.export", "resource": map[string]any{"type": "report"}},
		}}, jb...)
		expect(t, b, 200, "batch")
		res := b.get("results").([]any)
		got := []any{res[0].(map[string]any)["allowed"], res[1].(map[string]any)["allowed"], res[2].(map[string]any)["allowed"]}
		if fmt.Sprint(got) != "[true false true]" {
			t.Fatalf("batch results %v", got)
		}
		// Denials are audited (R7), in the background.
		deadline := time.Now().Add(5 * time.Second)
		for {
			a := e.req("GET", "/v1/admin/audit-events?type=authz.denied", nil, ad...)
			if len(a.get("events").([]any)) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("denied checks not audited")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestAuthzBadInput(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("john@example.com")
	jb := bearer(e.login("john@example.com", goodPassword).access)
	for name, body := range map[string]any{
		"no action":     map[string]any{"resource": map[string]any{"type": "post"}},
		"no resource":   map[string]any{"action": "posts.read"},
		"bad action":    map[string]any{"action": "DROP TABLE", "resource": map[string]any{"type": "post"}},
		"bad subject":   map[string]any{"subject": 42, "action": "posts.read", "resource": map[string]any{"type": "post"}},
		"unknown field": map[string]any{"action": "posts.read", "resource": map[string]any{"type": "post"}, "isAdmin": true},
		"empty batch":   "batch",
	} {
		path := "/v1/authz/check"
		if body == "batch" {
			path, body = "/v1/authz/check-batch", map[string]any{"checks": []any{}}
		}
		expectProblem(t, e.req("POST", path, body, jb...), 400, "validation_failed", name)
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"action": "posts.read", "resource": map[string]any{"type": "post"}}
	}
	expectProblem(t, e.req("POST", "/v1/authz/check-batch", map[string]any{"checks": many}, jb...), 400, "validation_failed", "101 checks")
	expectProblem(t, e.req("POST", "/v1/authz/check", map[string]any{"action": "posts.read", "resource": map[string]any{"type": "post"}}), 401, "unauthenticated", "anonymous check")
}

func TestAdminRolesAndPolicies(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		ad := bearer(e.admin("admin@example.com").access)
		r := e.req("GET", "/v1/admin/roles", nil, ad...)
		expect(t, r, 200, "roles")
		if n := len(r.get("roles").([]any)); n != 3 {
			t.Fatalf("%d seeded roles: %s", n, r.raw)
		}
		r = e.req("POST", "/v1/admin/roles", map[string]any{"name": "support", "description": "Helps users", "permissions": []string{"users.read", "users.update"}}, ad...)
		expect(t, r, 201, "create role")
		expectProblem(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "support"}, ad...), 409, "conflict", "duplicate role")
		expectProblem(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "Bad Name!"}, ad...), 400, "validation_failed", "bad role name")
		expectProblem(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "x", "permissions": []string{"no.such"}}, ad...), 400, "validation_failed", "unknown permission")
		r = e.req("PATCH", "/v1/admin/roles/support", map[string]any{"permissions": []string{"users.read"}}, ad...)
		expect(t, r, 200, "patch role")
		if fmt.Sprint(r.get("role", "permissions")) != "[users.read]" {
			t.Fatalf("patched role: %s", r.raw)
		}
		expect(t, e.req("GET", "/v1/admin/roles/support", nil, ad...), 200, "get role")
		expectProblem(t, e.req("DELETE", "/v1/admin/roles/editor", nil, ad...), 409, "conflict", "delete builtin")
		expectProblem(t, e.req("PATCH", "/v1/admin/roles/admin", map[string]any{"permissions": []string{}}, ad...), 409, "conflict", "strip admin")
		expect(t, e.req("DELETE", "/v1/admin/roles/support", nil, ad...), 204, "delete role")
		expectProblem(t, e.req("GET", "/v1/admin/roles/support", nil, ad...), 404, "not_found", "deleted role")
		p := e.req("GET", "/v1/admin/permissions", nil, ad...)
		if !strings.Contains(string(p.raw), "posts.delete") {
			t.Fatalf("permissions: %s", p.raw)
		}

		// Policies: a malformed condition is a 400 with the compiler's message.
		r = e.req("POST", "/v1/admin/policies", map[string]any{"name": "broken", "effect": "allow", "actions": []string{"posts.read"}, "resource_type": "post", "condition": "subject.id =="}, ad...)
		expectProblem(t, r, 400, "validation_failed", "bad CEL")
		if !strings.Contains(string(r.raw), "condition") || !strings.Contains(string(r.raw), "Syntax error") {
			t.Fatalf("compiler message missing: %s", r.raw)
		}
		r = e.req("POST", "/v1/admin/policies", map[string]any{"name": "no-friday-deletes", "effect": "deny", "actions": []string{"posts.delete"}, "resource_type": "post", "condition": `resource.attributes.locked == true`}, ad...)
		expect(t, r, 201, "create policy")
		pid := r.str("policy", "id")
		c := e.req("POST", "/v1/authz/check", map[string]any{"action": "posts.delete", "resource": map[string]any{"type": "post", "id": "1", "attributes": map[string]any{"locked": true}}}, ad...)
		if c.get("allowed") != false || !strings.Contains(c.str("reason"), "no-friday-deletes") {
			t.Fatalf("deny policy does not beat admin: %s", c.raw)
		}
		l := e.req("GET", "/v1/admin/policies", nil, ad...)
		if n := len(l.get("policies").([]any)); n != 3 {
			t.Fatalf("%d policies", n)
		}
		expect(t, e.req("DELETE", "/v1/admin/policies/"+pid, nil, ad...), 204, "delete policy")
		c = e.req("POST", "/v1/authz/check", map[string]any{"action": "posts.delete", "resource": map[string]any{"type": "post", "id": "1", "attributes": map[string]any{"locked": true}}}, ad...)
		if c.get("allowed") != true {
			t.Fatalf("deleted policy still denies: %s", c.raw)
		}
		a := e.req("GET", "/v1/admin/audit-events?type=policy.created", nil, ad...)
		if len(a.get("events").([]any)) != 1 {
			t.Fatal("policy change not audited")
		}
	})
}
