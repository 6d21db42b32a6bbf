package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// The seeded RBAC model (Z2-Z4, D3).
var (
	crudPermissions = []string{
		"users.read", "users.create", "users.update", "users.delete",
		"posts.read", "posts.create", "posts.update", "posts.delete",
	}
	editorPermissions = []string{"users.read", "posts.read", "posts.create", "posts.update"}
	viewerPermissions = []string{"users.read", "posts.read"}
)

func testSetUserRoles(t *testing.T, st store.Store) {
	ctx := t.Context()
	at := now()
	u := newUser(t, st, "john@example.com", "viewer")
	s, _ := newSession(t, st, u.ID, at)

	steps := []struct {
		name    string
		roles   []string
		wantErr bool
		want    []string
	}{
		{"promote", []string{"editor", "admin"}, false, []string{"admin", "editor"}},
		{"unknown role changes nothing", []string{"viewer", "no-such-role"}, true, []string{"admin", "editor"}},
		{"remove all", nil, false, nil},
		{"back to viewer", []string{"viewer"}, false, []string{"viewer"}},
	}
	for i, step := range steps {
		ev := auditFor(t, "user.roles_changed", u.ID, at.Add(time.Duration(i+1)*time.Second))
		err := st.SetUserRoles(ctx, u.ID, step.roles, ev.CreatedAt, ev)
		switch {
		case step.wantErr && err == nil:
			t.Errorf("%s: SetUserRoles(%q) succeeded, want an error", step.name, step.roles)
		case !step.wantErr && err != nil:
			t.Fatalf("%s: SetUserRoles(%q): %v", step.name, step.roles, err)
		}
		if step.wantErr {
			requireNoAudit(t, st, ev)
		} else {
			requireAudit(t, st, ev)
		}
		if got := getUser(t, st, u.ID).Roles; !slices.Equal(got, step.want) {
			t.Errorf("%s: GetUser Roles = %q, want %q", step.name, got, step.want)
		}
		// S19: a live session sees the change at once.
		_, su, err := st.GetSession(ctx, s.ID)
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		if !slices.Equal(su.Roles, step.want) {
			t.Errorf("%s: GetSession user Roles = %q, want %q", step.name, su.Roles, step.want)
		}
	}
}

func testCountUsersWithRole(t *testing.T, st store.Store) {
	ctx := t.Context()
	requireCounts := func(step string, want map[string]int) {
		t.Helper()
		for role, n := range want {
			got, err := st.CountUsersWithRole(ctx, role)
			if err != nil {
				t.Fatalf("%s: CountUsersWithRole(%s): %v", step, role, err)
			}
			if got != n {
				t.Errorf("%s: CountUsersWithRole(%s) = %d, want %d", step, role, got, n)
			}
		}
	}
	requireCounts("empty store", map[string]int{"admin": 0, "editor": 0, "viewer": 0})

	admin := newUser(t, st, "admin@example.com", "admin")
	newUser(t, st, "john@example.com", "viewer")
	v2 := newUser(t, st, "alice@test.com", "viewer")
	newUser(t, st, "bob@mail.com", "editor", "viewer")
	requireCounts("after create", map[string]int{"admin": 1, "editor": 1, "viewer": 3})

	if err := st.SetUserRoles(ctx, admin.ID, []string{"viewer"}, now(), nil); err != nil {
		t.Fatalf("SetUserRoles: %v", err)
	}
	requireCounts("after demotion", map[string]int{"admin": 0, "editor": 1, "viewer": 4})

	if err := st.DeleteUser(ctx, v2.ID, nil); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	requireCounts("after delete", map[string]int{"admin": 0, "editor": 1, "viewer": 3})
}

func testSeededRoles(t *testing.T, st store.Store) {
	ctx := t.Context()
	roles, err := st.ListRoles(ctx)
	if err != nil {
		t.Fatalf("ListRoles: %v", err)
	}
	perms, err := st.ListPermissions(ctx)
	if err != nil {
		t.Fatalf("ListPermissions: %v", err)
	}
	allPerms := make([]string, len(perms))
	for i, p := range perms {
		allPerms[i] = p.Name
	}

	byName := map[string]store.Role{}
	for _, r := range roles {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("ListRoles returned %q twice", r.Name)
		}
		byName[r.Name] = r
		if !r.Builtin {
			t.Errorf("seeded role %q: Builtin = false", r.Name)
		}
		for _, p := range r.Permissions {
			if !slices.Contains(allPerms, p) {
				t.Errorf("role %q has permission %q that ListPermissions does not list", r.Name, p)
			}
		}
		if c := sorted(r.Permissions); len(slices.Compact(c)) != len(r.Permissions) {
			t.Errorf("role %q lists a permission twice: %q", r.Name, r.Permissions)
		}
	}
	if got := sorted(ids(roles, func(r store.Role) string { return r.Name })); !slices.Equal(got, []string{"admin", "editor", "viewer"}) {
		t.Fatalf("ListRoles names = %q, want [admin editor viewer]", got)
	}

	exact := []struct {
		role string
		want []string
	}{
		{"editor", editorPermissions},
		{"viewer", viewerPermissions},
	}
	for _, e := range exact {
		if got := sorted(byName[e.role].Permissions); !slices.Equal(got, sorted(e.want)) {
			t.Errorf("role %s permissions = %q, want %q", e.role, got, sorted(e.want))
		}
	}
	// admin has every permission, so a superset of every other role.
	admin := byName["admin"].Permissions
	for _, p := range allPerms {
		if !slices.Contains(admin, p) {
			t.Errorf("admin lacks permission %q", p)
		}
	}
}

func testSeededPermissions(t *testing.T, st store.Store) {
	perms, err := st.ListPermissions(t.Context())
	if err != nil {
		t.Fatalf("ListPermissions: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range perms {
		if seen[p.Name] {
			t.Errorf("ListPermissions returned %q twice", p.Name)
		}
		seen[p.Name] = true
	}
	for _, name := range crudPermissions {
		if !seen[name] {
			t.Errorf("ListPermissions lacks %q", name)
		}
	}
}
