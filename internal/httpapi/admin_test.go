package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAdminNeedsPermission(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	e.signup("viewer@example.com")
	v := e.login("viewer@example.com", goodPassword)
	paths := []struct{ method, path string }{
		{"GET", "/v1/admin/users"}, {"POST", "/v1/admin/users"}, {"GET", "/v1/admin/audit-events"},
		{"PUT", "/v1/admin/users/" + v.userID + "/roles"}, {"POST", "/v1/admin/users/" + v.userID + "/suspend"},
	}
	for _, p := range paths {
		expectProblem(t, e.req(p.method, p.path, map[string]any{}, bearer(v.access)...), 403, "forbidden", "viewer "+p.method+" "+p.path+" (Z1)")
		expectProblem(t, e.req(p.method, p.path, map[string]any{}), 401, "unauthenticated", "anonymous "+p.path+" (Z1)")
	}
	adm := e.admin("admin@example.com")
	r := e.req("GET", "/v1/admin/audit-events?type=access.denied", nil, bearer(adm.access)...)
	if n := len(r.get("events").([]any)); n != len(paths) {
		t.Fatalf("%d access.denied events, want %d (R7)", n, len(paths))
	}
}

func TestAdminUsers(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		auth := bearer(adm.access)

		// Create.
		r := e.req("POST", "/v1/admin/users", map[string]any{"email": "Editor@Example.com", "password": goodPassword, "name": "Ed", "roles": []string{"editor"}, "email_verified": true}, auth...)
		expect(t, r, 201, "create")
		edID := r.str("user", "id")
		if fmt.Sprint(r.get("user", "roles")) != "[editor]" || r.get("user", "email_verified") != true {
			t.Fatalf("created: %s", r.raw)
		}
		expectProblem(t, e.req("POST", "/v1/admin/users", map[string]any{"email": "editor@example.com", "password": goodPassword}, auth...), 409, "conflict", "duplicate")
		expectProblem(t, e.req("POST", "/v1/admin/users", map[string]any{"email": "x@example.com", "password": goodPassword, "roles": []string{"god"}}, auth...), 400, "validation_failed", "unknown role")
		for i := 0; i < 5; i++ {
			e.signup(fmt.Sprintf("user%d@example.com", i))
		}
		// List, search, paginate.
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			r := e.req("GET", "/v1/admin/users?limit=3&cursor="+cursor, nil, auth...)
			expect(t, r, 200, "list")
			for _, u := range r.get("users").([]any) {
				id := u.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("user %s on two pages", id)
				}
				seen[id] = true
			}
			cursor = r.str("next_cursor")
			if cursor == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 7 {
			t.Fatalf("paginated %d users, want 7", len(seen))
		}
		r = e.req("GET", "/v1/admin/users?query=EDITOR", nil, auth...)
		if us := r.get("users").([]any); len(us) != 1 || us[0].(map[string]any)["id"] != edID {
			t.Fatalf("search: %s", r.raw)
		}
		// Get, patch (attributes for ABAC), 404.
		expect(t, e.req("GET", "/v1/admin/users/"+edID, nil, auth...), 200, "get")
		r = e.req("PATCH", "/v1/admin/users/"+edID, map[string]any{"last_name": "Itor", "attributes": map[string]any{"department": "engineering"}}, auth...)
		expect(t, r, 200, "patch")
		if r.str("user", "last_name") != "Itor" || r.str("user", "name") != "Ed" || fmt.Sprint(r.get("user", "attributes")) != "map[department:engineering]" {
			t.Fatalf("patched: %s", r.raw)
		}
		expectProblem(t, e.req("GET", "/v1/admin/users/01a20000-0000-7000-8000-000000000000", nil, auth...), 404, "not_found", "unknown user")
		// A changed email address is no longer verified.
		v := e.req("POST", "/v1/admin/users", map[string]any{"email": "verified@example.com", "password": goodPassword, "email_verified": true}, auth...)
		r = e.req("PATCH", "/v1/admin/users/"+v.str("user", "id"), map[string]any{"email": "Moved@Example.com"}, auth...)
		expect(t, r, 200, "email change")
		if r.str("user", "email") != "moved@example.com" || r.get("user", "email_verified") != false {
			t.Fatalf("after email change: %s", r.raw)
		}
		expect(t, e.req("DELETE", "/v1/admin/users/"+v.str("user", "id"), nil, auth...), 204, "cleanup")

		// Suspension ends every session at once (S16), and blocks login.
		ed := e.login("editor@example.com", goodPassword)
		r = e.req("POST", "/v1/admin/users/"+edID+"/suspend", nil, auth...)
		expect(t, r, 200, "suspend")
		if r.str("user", "status") != "suspended" {
			t.Fatalf("suspend: %s", r.raw)
		}
		for name, tok := range map[string]string{"session": ed.token, "access": ed.access} {
			expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(tok)...), 401, "suspended user's "+name+" token")
		}
		expect(t, e.req("POST", "/v1/auth/refresh", map[string]any{"refresh_token": ed.refresh}), 401, "suspended refresh")
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "editor@example.com", "password": goodPassword}), 401, "suspended login")
		expect(t, e.req("POST", "/v1/admin/users/"+edID+"/unsuspend", nil, auth...), 200, "unsuspend")
		ed = e.login("editor@example.com", goodPassword)

		// Admin view of sessions; revoke them all.
		r = e.req("GET", "/v1/admin/users/"+edID+"/sessions", nil, auth...)
		if n := len(r.get("sessions").([]any)); n != 1 {
			t.Fatalf("%d sessions: %s", n, r.raw)
		}
		expect(t, e.req("DELETE", "/v1/admin/users/"+edID+"/sessions", nil, auth...), 204, "revoke sessions")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(ed.access)...), 401, "revoked by admin")

		// Role changes take effect on the very next request (S19), even
		// for an access token issued before the change.
		ed = e.login("editor@example.com", goodPassword)
		w := e.req("GET", "/v1/auth/whoami", nil, bearer(ed.access)...)
		if !strings.Contains(fmt.Sprint(w.get("permissions")), "posts.update") {
			t.Fatalf("editor perms: %v", w.get("permissions"))
		}
		expect(t, e.req("PUT", "/v1/admin/users/"+edID+"/roles", map[string]any{"roles": []string{"viewer"}}, auth...), 200, "demote")
		w = e.req("GET", "/v1/auth/whoami", nil, bearer(ed.access)...)
		if fmt.Sprint(w.get("roles")) != "[viewer]" || strings.Contains(fmt.Sprint(w.get("permissions")), "posts.update") {
			t.Fatalf("after demotion whoami shows %v %v", w.get("roles"), w.get("permissions"))
		}
		expectProblem(t, e.req("PUT", "/v1/admin/users/"+edID+"/roles", map[string]any{}, auth...), 400, "validation_failed", "roles missing")

		// The last admin is protected (Z10); an admin cannot suspend or delete themself.
		expectProblem(t, e.req("PUT", "/v1/admin/users/"+adm.userID+"/roles", map[string]any{"roles": []string{"viewer"}}, auth...), 409, "conflict", "last admin demoted")
		expectProblem(t, e.req("POST", "/v1/admin/users/"+adm.userID+"/suspend", nil, auth...), 403, "forbidden", "self suspend")
		expectProblem(t, e.req("DELETE", "/v1/admin/users/"+adm.userID, nil, auth...), 403, "forbidden", "self delete")

		// Delete.
		expect(t, e.req("DELETE", "/v1/admin/users/"+edID, nil, auth...), 204, "delete")
		expectProblem(t, e.req("GET", "/v1/admin/users/"+edID, nil, auth...), 404, "not_found", "deleted")
		expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(ed.access)...), 401, "deleted user's token")

		// The audit log recorded the admin actions, with actor and target.
		r = e.req("GET", "/v1/admin/audit-events?user_id="+edID+"&limit=200", nil, auth...)
		types := map[string]bool{}
		for _, ev := range r.get("events").([]any) {
			m := ev.(map[string]any)
			types[m["type"].(string)] = true
			if m["created_at"] == "" || m["result"] == "" {
				t.Fatalf("incomplete event %v", m)
			}
		}
		for _, want := range []string{"user.created", "user.updated", "user.suspended", "user.unsuspended", "sessions.revoked", "user.roles_changed", "user.deleted", "login.succeeded"} {
			if !types[want] {
				t.Errorf("audit lacks %s (R6); have %v", want, types)
			}
		}
		r = e.req("GET", "/v1/admin/audit-events?type=user.suspended", nil, auth...)
		evs := r.get("events").([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["actor_id"] != adm.userID || evs[0].(map[string]any)["ip_address"] != "127.0.0.1" {
			t.Fatalf("user.suspended event: %s", r.raw)
		}
		// Pagination of the audit log, newest first.
		r1 := e.req("GET", "/v1/admin/audit-events?limit=2", nil, auth...)
		r2 := e.req("GET", "/v1/admin/audit-events?limit=2&cursor="+r1.str("next_cursor"), nil, auth...)
		a, b := r1.get("events").([]any), r2.get("events").([]any)
		if len(a) != 2 || len(b) != 2 || a[1].(map[string]any)["id"].(string) <= b[0].(map[string]any)["id"].(string) {
			t.Fatalf("audit pages out of order")
		}
	})
}

func TestRoleAssignmentNeedsAdmin(t *testing.T) {
	e := newEnv(t, onSQLite, nil)
	adm := e.admin("admin@example.com")
	// A user without the admin permissions cannot hand out roles, not even to themself.
	_, err := e.g.Identity.Bootstrap(t.Context(), identityInput("second@example.com", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	e.signup("ed@example.com")
	ed := e.login("ed@example.com", goodPassword)
	expectProblem(t, e.req("PUT", "/v1/admin/users/"+ed.userID+"/roles", map[string]any{"roles": []string{"admin"}}, bearer(ed.access)...), 403, "forbidden", "self escalation")
	// With two admins, one may step down.
	expect(t, e.req("PUT", "/v1/admin/users/"+adm.userID+"/roles", map[string]any{"roles": []string{"editor"}}, bearer(adm.access)...), 200, "step down")
}

// TestLimitedAdminCannotTakeOverStrongerAccounts: an admin-API user with
// users.update (but not every permission of the target) cannot change the
// email of, demote, suspend or delete a more powerful user, nor grant
// themself attributes or policies.
func TestLimitedAdminCannotTakeOverStrongerAccounts(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		root := e.admin("root@example.com")
		rb := bearer(root.access)
		expect(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "helpdesk", "permissions": []string{"admin.access", "users.read", "users.update", "roles.assign", "policies.manage", "posts.read"}}, rb...), 201, "helpdesk role")
		e.signup("help@example.com")
		e.signup("victim@example.com")
		help := e.login("help@example.com", goodPassword)
		victim := e.login("victim@example.com", goodPassword)
		expect(t, e.req("PUT", "/v1/admin/users/"+help.userID+"/roles", map[string]any{"roles": []string{"helpdesk"}}, rb...), 200, "make helpdesk")
		hb := bearer(e.login("help@example.com", goodPassword).access)

		for name, c := range map[string]struct {
			method, path string
			body         any
		}{
			"change the admin's email": {"PATCH", "/v1/admin/users/" + root.userID, map[string]any{"email": "attacker@evil.example"}},
			"demote the admin":         {"PUT", "/v1/admin/users/" + root.userID + "/roles", map[string]any{"roles": []string{}}},
			"suspend the admin":        {"POST", "/v1/admin/users/" + root.userID + "/suspend", nil},
			"revoke admin sessions":    {"DELETE", "/v1/admin/users/" + root.userID + "/sessions", nil},
			"own ABAC attributes":      {"PATCH", "/v1/admin/users/" + help.userID, map[string]any{"attributes": map[string]any{"department": "engineering"}}},
			"allow-everything policy":  {"POST", "/v1/admin/policies", map[string]any{"name": "mine", "effect": "allow", "actions": []string{"*"}, "condition": "subject.id == '" + help.userID + "'"}},
		} {
			expectProblem(t, e.req(c.method, c.path, c.body, hb...), 403, "forbidden", name)
		}
		if r := e.req("GET", "/v1/auth/whoami", nil, rb...); r.str("user", "email") != "root@example.com" {
			t.Fatalf("admin account changed: %s", r.raw)
		}
		// Weaker users remain manageable.
		expect(t, e.req("PATCH", "/v1/admin/users/"+victim.userID, map[string]any{"name": "Renamed"}, hb...), 200, "edit a viewer")
	})
}

// TestLimitedAdminCannotEscalate: an admin who may manage roles,
// relations and invitations cannot use them to give itself (or anyone) a
// permission or role it does not hold: not by creating or editing a role,
// a direct grant, an ACL tuple or an invitation (Z10). Within what it
// holds, it may.
func TestLimitedAdminCannotEscalate(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		root := e.admin("root@example.com")
		rb := bearer(root.access)
		expect(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "rolesmith", "permissions": []string{
			"admin.access", "roles.read", "roles.manage", "roles.assign", "relations.manage", "invitations.create", "posts.read"}}, rb...), 201, "rolesmith role")
		e.signup("smith@example.com")
		smith := e.login("smith@example.com", goodPassword)
		expect(t, e.req("PUT", "/v1/admin/users/"+smith.userID+"/roles", map[string]any{"roles": []string{"rolesmith"}}, rb...), 200, "make rolesmith")
		sb := bearer(e.login("smith@example.com", goodPassword).access)

		expect(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "reader", "permissions": []string{"posts.read"}}, sb...), 201, "a role within what it holds")
		self := map[string]any{"type": "user", "id": smith.userID}
		for _, c := range []struct {
			name, method, path string
			body               any
		}{
			{"create a role with a permission it lacks", "POST", "/v1/admin/roles", map[string]any{"name": "super", "permissions": []string{"users.delete"}}},
			{"add a permission it lacks to a role", "PATCH", "/v1/admin/roles/reader", map[string]any{"permissions": []string{"posts.read", "users.delete"}}},
			{"grant itself a permission directly", "PUT", "/v1/admin/users/" + smith.userID + "/permissions", map[string]any{"permissions": []string{"users.delete"}}},
			{"give itself the admin role", "PUT", "/v1/admin/users/" + smith.userID + "/roles", map[string]any{"roles": []string{"rolesmith", "admin"}}},
			{"an ACL tuple for a permission it lacks", "POST", "/v1/admin/relations", map[string]any{"subject": self, "permission": "posts.delete", "resource": map[string]any{"type": "post", "id": "1"}}},
			{"invite with the admin role", "POST", "/v1/admin/invitations", map[string]any{"email": "friend@example.com", "roles": []string{"admin"}}},
		} {
			expectProblem(t, e.req(c.method, c.path, c.body, sb...), 403, "forbidden", c.name)
		}
		// Each attempt is in the audit log (R7), with the permission it
		// tried to grant.
		var attempts int
		var granted []string
		for _, ev := range e.auditEvents(root.access, "access.denied") {
			if d := ev["details"].(map[string]any); ev["actor_id"] == smith.userID && d["reason"] == "escalation" {
				attempts++
				granted = append(granted, fmt.Sprint(d["permission"]))
			}
		}
		if attempts != 6 || !slices.Contains(granted, "users.delete") || !slices.Contains(granted, "posts.delete") {
			t.Fatalf("%d escalation attempts audited (permissions %v), want 6", attempts, granted)
		}
		expect(t, e.req("POST", "/v1/admin/relations", map[string]any{"subject": self, "permission": "posts.read", "resource": map[string]any{"type": "post", "id": "1"}}, sb...), 201, "a tuple within what it holds")
		w := e.req("GET", "/v1/auth/whoami", nil, sb...)
		if strings.Contains(string(w.raw), "users.delete") || strings.Contains(fmt.Sprint(w.get("roles")), "admin") {
			t.Fatalf("rolesmith escalated: %s", w.raw)
		}
	})
}
