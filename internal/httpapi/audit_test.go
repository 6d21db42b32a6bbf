package httpapi_test

import (
	"fmt"
	"testing"
	"time"
)

// auditEvents lists the events of one type, newest first.
func (e *env) auditEvents(adminAccess, typ string) []map[string]any {
	e.t.Helper()
	r := e.req("GET", "/v1/admin/audit-events?limit=200&type="+typ, nil, bearer(adminAccess)...)
	expect(e.t, r, 200, "audit events "+typ)
	var out []map[string]any
	for _, v := range r.get("events").([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// TestPermissionChangesAreAudited: every change to roles, permissions,
// grants, relations and policies writes one event naming the actor, the
// target, the change, the result, the IP and the user agent (R6/R7).
func TestPermissionChangesAreAudited(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		adm := e.admin("admin@example.com")
		ad := bearer(adm.access)
		johnID := e.signup("john@example.com")
		tuple := map[string]any{"subject": map[string]any{"type": "user", "id": johnID}, "permission": "posts.update",
			"resource": map[string]any{"type": "post", "id": "42"}}
		var policyID string
		steps := []struct {
			event        string
			do           func() resp
			status       int
			target       string // the event's user_id
			detail, want string // a detail the event must carry
		}{
			{"role.created", func() resp {
				return e.req("POST", "/v1/admin/roles", map[string]any{"name": "support", "permissions": []string{"users.read"}}, ad...)
			}, 201, "", "role", "support"},
			{"role.updated", func() resp {
				return e.req("PATCH", "/v1/admin/roles/support", map[string]any{"permissions": []string{"users.read", "posts.read"}}, ad...)
			}, 200, "", "permissions", "[users.read posts.read]"},
			{"permission.created", func() resp {
				return e.req("POST", "/v1/admin/permissions", map[string]any{"name": "reports.export"}, ad...)
			}, 201, "", "permission", "reports.export"},
			{"user.permissions_changed", func() resp {
				return e.req("PUT", "/v1/admin/users/"+johnID+"/permissions", map[string]any{"permissions": []string{"reports.export"}}, ad...)
			}, 200, johnID, "permissions", "[reports.export]"},
			{"user.roles_changed", func() resp {
				return e.req("PUT", "/v1/admin/users/"+johnID+"/roles", map[string]any{"roles": []string{"support"}}, ad...)
			}, 200, johnID, "", ""},
			{"relation.created", func() resp { return e.req("POST", "/v1/admin/relations", tuple, ad...) }, 201, johnID, "", ""},
			{"relation.deleted", func() resp { return e.req("DELETE", "/v1/admin/relations", tuple, ad...) }, 204, johnID, "", ""},
			{"policy.created", func() resp {
				r := e.req("POST", "/v1/admin/policies", map[string]any{"name": "own-posts", "effect": "allow", "actions": []string{"posts.update"},
					"resource_type": "post", "condition": "resource.attributes.owner_id == subject.id"}, ad...)
				policyID = r.str("policy", "id")
				return r
			}, 201, "", "policy", "own-posts"},
			{"policy.deleted", func() resp { return e.req("DELETE", "/v1/admin/policies/"+policyID, nil, ad...) }, 204, "", "policy_id", ""},
			{"role.deleted", func() resp {
				// The role is in use; take it away first (one more roles event).
				expect(t, e.req("PUT", "/v1/admin/users/"+johnID+"/roles", map[string]any{"roles": []string{"viewer"}}, ad...), 200, "unassign support")
				return e.req("DELETE", "/v1/admin/roles/support", nil, ad...)
			}, 204, "", "role", "support"},
		}
		for _, s := range steps {
			expect(t, s.do(), s.status, s.event)
			evs := e.auditEvents(adm.access, s.event)
			if len(evs) == 0 {
				t.Fatalf("%s: no event", s.event)
			}
			ev := evs[0] // newest
			if ev["actor_id"] != adm.userID || ev["result"] != "success" || ev["ip_address"] == "" || ev["user_agent"] == "" || ev["created_at"] == "" {
				t.Fatalf("%s: event lacks who/result/where/when: %v", s.event, ev)
			}
			if s.target != "" && ev["user_id"] != s.target {
				t.Fatalf("%s: target %v, want %s", s.event, ev["user_id"], s.target)
			}
			if s.detail != "" {
				d := ev["details"].(map[string]any)
				got, ok := d[s.detail]
				if !ok || (s.want != "" && fmt.Sprint(got) != s.want) {
					t.Fatalf("%s: details %v, want %s=%s", s.event, d, s.detail, s.want)
				}
			}
		}
		// A refused change writes no change event.
		expectProblem(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "editor"}, ad...), 409, "conflict", "duplicate role")
		if n := len(e.auditEvents(adm.access, "role.created")); n != 1 {
			t.Fatalf("%d role.created events after a refused duplicate, want 1", n)
		}
	})
}

// TestRefusalsAreAudited: a 403 writes access.denied with the actor, the
// target, the route, the reason and the permission at stake; and an
// account cannot flood the log with them (R7).
func TestRefusalsAreAudited(t *testing.T) {
	bothStores(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind, nil)
		root := e.admin("root@example.com")
		rb := bearer(root.access)
		expect(t, e.req("POST", "/v1/admin/roles", map[string]any{"name": "helpdesk", "permissions": []string{
			"admin.access", "users.read", "users.update"}}, rb...), 201, "helpdesk role")
		e.signup("help@example.com")
		help := e.login("help@example.com", goodPassword)
		expect(t, e.req("PUT", "/v1/admin/users/"+help.userID+"/roles", map[string]any{"roles": []string{"helpdesk"}}, rb...), 200, "make helpdesk")
		hb := bearer(e.login("help@example.com", goodPassword).access)
		viewerID := e.signup("viewer@example.com")
		vb := bearer(e.login("viewer@example.com", goodPassword).access)

		cases := []struct {
			name, method, path string
			body               any
			auth               []string
			actor, target      string
			reason, permission string
		}{
			{"a check about another user without authz.check", "POST", "/v1/authz/check",
				map[string]any{"subject": root.userID, "action": "posts.read", "resource": map[string]any{"type": "post", "id": "1"}},
				vb, viewerID, viewerID, "permission", "authz.check"},
			{"an admin route without its permission", "GET", "/v1/admin/roles", nil, hb, help.userID, help.userID, "permission", "roles.read"},
			{"suspend a stronger account", "POST", "/v1/admin/users/" + root.userID + "/suspend", nil, hb, help.userID, root.userID, "target_outranks", ""},
			{"suspend itself", "POST", "/v1/admin/users/" + root.userID + "/suspend", nil, rb, root.userID, root.userID, "self", ""},
		}
		for _, c := range cases {
			expectProblem(t, e.req(c.method, c.path, c.body, c.auth...), 403, "forbidden", c.name)
			evs := e.auditEvents(root.access, "access.denied")
			if len(evs) == 0 {
				t.Fatalf("%s: no access.denied event", c.name)
			}
			ev := evs[0]
			d := ev["details"].(map[string]any)
			if ev["actor_id"] != c.actor || ev["user_id"] != c.target || ev["result"] != "denied" || ev["ip_address"] == "" ||
				d["reason"] != c.reason || d["route"] == "" || (c.permission != "" && d["permission"] != c.permission) {
				t.Fatalf("%s: event %v, want actor %s target %s reason %s permission %q", c.name, ev, c.actor, c.target, c.reason, c.permission)
			}
		}

		// authz.denied names the subject each denied check was about.
		expect(t, e.req("POST", "/v1/authz/check", map[string]any{"subject": viewerID, "action": "posts.delete",
			"resource": map[string]any{"type": "post", "id": "7"}}, rb...), 200, "admin asks about the viewer")
		var ev map[string]any
		if _, ok := within(5*time.Second, func() bool {
			evs := e.auditEvents(root.access, "authz.denied")
			if len(evs) > 0 {
				ev = evs[0]
			}
			return ev != nil
		}); !ok {
			t.Fatal("no authz.denied event")
		}
		checks := ev["details"].(map[string]any)["checks"].([]any)
		if ev["actor_id"] != root.userID || ev["user_id"] != viewerID || checks[0].(map[string]any)["subject_id"] != viewerID {
			t.Fatalf("authz.denied: %v, want actor root, target and subject the viewer", ev)
		}

		// A flood of refusals from one account is recorded up to the cap
		// (rate_limit.mail_per_ip, 30 a minute), the rest only answered.
		floodID := e.signup("flood@example.com")
		fb := bearer(e.login("flood@example.com", goodPassword).access)
		for i := 0; i < 40; i++ {
			expectProblem(t, e.req("GET", "/v1/admin/users", nil, fb...), 403, "forbidden", "flood")
		}
		n := 0
		for _, ev := range e.auditEvents(root.access, "access.denied") {
			if ev["actor_id"] == floodID {
				n++
			}
		}
		if n != 30 {
			t.Fatalf("%d access.denied events for 40 refusals, want the cap of 30", n)
		}
	})
}
