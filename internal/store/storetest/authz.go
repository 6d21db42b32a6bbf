package storetest

import (
	"fmt"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testRoleCRUD(t *testing.T, st store.Store) {
	ctx := t.Context()
	r := &store.Role{Name: "support", Description: "helps users", Permissions: []string{"users.read", "users.update"}}
	if err := st.CreateRole(ctx, r, nil); err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	wantErr(t, st.CreateRole(ctx, &store.Role{Name: "support"}, nil), store.ErrConflict, "duplicate role")
	wantErr(t, st.CreateRole(ctx, &store.Role{Name: "bad", Permissions: []string{"no.such"}}, nil), store.ErrNotFound, "unknown permission")
	if _, err := st.GetRole(ctx, "bad"); err == nil {
		t.Fatal("a failed CreateRole left a role behind")
	}
	got, err := st.GetRole(ctx, "support")
	if err != nil || got.Builtin || fmt.Sprint(got.Permissions) != "[users.read users.update]" {
		t.Fatalf("GetRole: %+v %v", got, err)
	}
	desc := "updated"
	got, err = st.UpdateRole(ctx, "support", &desc, []string{"posts.read"}, nil)
	if err != nil || got.Description != "updated" || fmt.Sprint(got.Permissions) != "[posts.read]" {
		t.Fatalf("UpdateRole: %+v %v", got, err)
	}
	_, err = st.UpdateRole(ctx, "nope", &desc, nil, nil)
	wantErr(t, err, store.ErrNotFound, "update unknown role")
	u := newUser(t, st, "supporter@example.com", "support")
	if err := st.DeleteRole(ctx, "support", nil); err != nil {
		t.Fatalf("DeleteRole: %v", err)
	}
	if roles := getUser(t, st, u.ID).Roles; len(roles) != 0 {
		t.Fatalf("deleted role still held: %v", roles)
	}
	wantErr(t, st.DeleteRole(ctx, "support", nil), store.ErrNotFound, "delete twice")
	seeded, _ := st.GetRole(ctx, "editor")
	if !seeded.Builtin {
		t.Fatal("seeded roles must be builtin")
	}
}

func testPermissionsAndDirectGrants(t *testing.T, st store.Store) {
	ctx := t.Context()
	if err := st.CreatePermission(ctx, &store.Permission{Name: "reports.export", Description: "export"}, []string{"admin"}, nil); err != nil {
		t.Fatalf("CreatePermission: %v", err)
	}
	wantErr(t, st.CreatePermission(ctx, &store.Permission{Name: "reports.export"}, nil, nil), store.ErrConflict, "duplicate permission")
	admin, _ := st.GetRole(ctx, "admin")
	found := false
	for _, p := range admin.Permissions {
		found = found || p == "reports.export"
	}
	if !found {
		t.Fatal("new permission not granted to admin")
	}
	u := newUser(t, st, "direct@example.com")
	if err := st.SetUserPermissions(ctx, u.ID, []string{"reports.export", "posts.create"}, now(), nil); err != nil {
		t.Fatalf("SetUserPermissions: %v", err)
	}
	if got := getUser(t, st, u.ID).Permissions; fmt.Sprint(got) != "[posts.create reports.export]" {
		t.Fatalf("direct permissions %v", got)
	}
	s, _ := newSession(t, st, u.ID, now())
	_, su, err := st.GetSession(ctx, s.ID)
	if err != nil || len(su.Permissions) != 2 {
		t.Fatalf("session user lacks direct permissions: %v %v", su.Permissions, err)
	}
	wantErr(t, st.SetUserPermissions(ctx, u.ID, []string{"no.such"}, now(), nil), store.ErrNotFound, "unknown permission")
	if got := getUser(t, st, u.ID).Permissions; len(got) != 2 {
		t.Fatalf("failed SetUserPermissions changed grants: %v", got)
	}
	wantErr(t, st.SetUserPermissions(ctx, newID(t), nil, now(), nil), store.ErrNotFound, "unknown user")
}

func testRelations(t *testing.T, st store.Store) {
	ctx := t.Context()
	r := &store.Relation{SubjectType: "user", SubjectID: "u1", Permission: "posts.update", ResourceType: "post", ResourceID: "42"}
	if err := st.CreateRelation(ctx, r, nil); err != nil {
		t.Fatalf("CreateRelation: %v", err)
	}
	dup := *r
	dup.ID = ""
	wantErr(t, st.CreateRelation(ctx, &dup, nil), store.ErrConflict, "duplicate tuple")
	_ = st.CreateRelation(ctx, &store.Relation{SubjectType: "role", SubjectID: "editor", Permission: "posts.delete", ResourceType: "post", ResourceID: "42"}, nil)
	cases := []struct {
		subjects      []store.Subject
		perm, typ, id string
		want          bool
	}{
		{[]store.Subject{{Type: "user", ID: "u1"}}, "posts.update", "post", "42", true},
		{[]store.Subject{{Type: "user", ID: "u2"}}, "posts.update", "post", "42", false},
		{[]store.Subject{{Type: "user", ID: "u1"}}, "posts.update", "post", "43", false},
		{[]store.Subject{{Type: "user", ID: "u1"}}, "posts.delete", "post", "42", false},
		{[]store.Subject{{Type: "user", ID: "u1"}, {Type: "role", ID: "editor"}}, "posts.delete", "post", "42", true},
		{nil, "posts.update", "post", "42", false},
	}
	for _, c := range cases {
		_, ok, err := st.FindRelation(ctx, c.subjects, c.perm, c.typ, c.id)
		if err != nil || ok != c.want {
			t.Errorf("FindRelation(%v, %s, %s:%s) = %v, %v; want %v", c.subjects, c.perm, c.typ, c.id, ok, err, c.want)
		}
	}
	kinds, err := st.RelationKinds(ctx)
	if err != nil || len(kinds) != 2 {
		t.Fatalf("RelationKinds = %v, %v; want (post, posts.update) and (post, posts.delete)", kinds, err)
	}
	rs, err := st.ListRelations(ctx, store.RelationQuery{ResourceType: "post", ResourceID: "42"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("ListRelations by resource: %d %v", len(rs), err)
	}
	rs, _ = st.ListRelations(ctx, store.RelationQuery{SubjectType: "user", SubjectID: "u1"})
	if len(rs) != 1 || rs[0].ID != r.ID {
		t.Fatalf("ListRelations by subject: %+v", rs)
	}
	if err := st.DeleteRelation(ctx, *r, nil); err != nil {
		t.Fatalf("DeleteRelation: %v", err)
	}
	wantErr(t, st.DeleteRelation(ctx, *r, nil), store.ErrNotFound, "delete twice")
	if _, ok, _ := st.FindRelation(ctx, []store.Subject{{Type: "user", ID: "u1"}}, "posts.update", "post", "42"); ok {
		t.Fatal("deleted tuple still found")
	}
}

func testPolicies(t *testing.T, st store.Store) {
	ctx := t.Context()
	seeded, err := st.ListPolicies(ctx)
	if err != nil || len(seeded) != 2 {
		t.Fatalf("seeded policies: %d %v", len(seeded), err)
	}
	p := &store.Policy{Name: "no-deletes-on-friday", Effect: "deny", Actions: []string{"posts.delete", "posts.update"}, ResourceType: "post", Condition: `context.now.getDayOfWeek() == 5`}
	if err := st.CreatePolicy(ctx, p, nil); err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	wantErr(t, st.CreatePolicy(ctx, &store.Policy{Name: p.Name, Effect: "allow", Actions: []string{"x"}, Condition: "true"}, nil), store.ErrConflict, "duplicate name")
	all, _ := st.ListPolicies(ctx)
	var got store.Policy
	for _, q := range all {
		if q.ID == p.ID {
			got = q
		}
	}
	if got.Name != p.Name || got.Effect != "deny" || fmt.Sprint(got.Actions) != "[posts.delete posts.update]" || got.Condition != p.Condition || got.ResourceType != "post" {
		t.Fatalf("policy round trip: %+v", got)
	}
	if err := st.DeletePolicy(ctx, p.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, st.DeletePolicy(ctx, p.ID, nil), store.ErrNotFound, "delete twice")
	wantErr(t, st.DeletePolicy(ctx, "not-a-uuid", nil), store.ErrNotFound, "bad id")
}
