package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testCreateUserRoundTrip(t *testing.T, st store.Store) {
	at := now()
	full := userFor(t, "John.Doe@Example.com", at)
	full.Username = ptr("jdoe")
	full.Name = "John Doe"
	full.FirstName = "John"
	full.LastName = "Doe"
	full.EmailVerified = true
	full.EmailVerifiedAt = ptr(at.Add(-time.Hour))
	full.LastLoginAt = ptr(at.Add(-time.Minute))
	full.LastLoginIP = "2001:db8::1"
	full.Attributes = map[string]any{
		"department":     "engineering",
		"clearance":      3,
		"contractor":     false,
		"teams":          []any{"auth", "infra"},
		"manager":        map[string]any{"name": "Zoë", "level": 2.5},
		"classification": nil,
	}

	cases := []struct {
		name  string
		user  store.User
		roles []string
	}{
		{"minimal", userFor(t, "sample@sample.com", at), nil},
		{"one role", userFor(t, "alice@test.com", at), []string{"viewer"}},
		{"every field", full, []string{"viewer", "editor", "admin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			u := c.user
			if err := st.CreateUser(ctx, &u, c.roles, nil); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if u.ID != c.user.ID {
				t.Fatalf("CreateUser replaced the caller's id %s with %s", c.user.ID, u.ID)
			}
			want := u
			want.Roles = sorted(c.roles)

			got, err := st.GetUser(ctx, u.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if d := userDiff(got, want); len(d) > 0 {
				t.Errorf("GetUser differs from what was created:\n%s", d)
			}
			got, err = st.GetUserByEmail(ctx, u.EmailNormalized)
			if err != nil {
				t.Fatalf("GetUserByEmail(%q): %v", u.EmailNormalized, err)
			}
			if d := userDiff(got, want); len(d) > 0 {
				t.Errorf("GetUserByEmail differs from what was created:\n%s", d)
			}
		})
	}
}

func testCreateUserConflict(t *testing.T, st store.Store) {
	existing := userFor(t, "john@example.com", now())
	existing.Username = ptr("johnny")
	createUser(t, st, existing, "viewer")

	sameEmail := userFor(t, "  John@EXAMPLE.com ", now())
	sameUsername := userFor(t, "johnny@mail.com", now())
	sameUsername.Username = ptr("johnny")

	cases := []struct {
		name string
		user store.User
	}{
		{"same normalized email", sameEmail},
		{"same username", sameUsername},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			u := c.user
			ev := auditFor(t, "user.created", u.ID, now())
			err := st.CreateUser(ctx, &u, []string{"viewer"}, ev)
			wantErr(t, err, store.ErrConflict, "CreateUser")
			_, err = st.GetUser(ctx, c.user.ID)
			wantErr(t, err, store.ErrNotFound, "GetUser of the refused user")
			requireNoAudit(t, st, ev)
		})
	}

	// Users without a username do not collide with each other.
	newUser(t, st, "no-username-1@example.com")
	newUser(t, st, "no-username-2@example.com")
}

func testCreateUserUnknownRole(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := userFor(t, "bob@mail.com", now())
	ev := auditFor(t, "user.created", u.ID, now())
	if err := st.CreateUser(ctx, &u, []string{"viewer", "no-such-role"}, ev); err == nil {
		t.Fatal("CreateUser with an unknown role succeeded")
	}
	_, err := st.GetUserByEmail(ctx, u.EmailNormalized)
	wantErr(t, err, store.ErrNotFound, "GetUserByEmail after the failed CreateUser")
	_, err = st.GetUser(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after the failed CreateUser")
	requireNoAudit(t, st, ev)

	// Nothing was left behind that blocks a correct retry.
	got := createUser(t, st, u, "viewer")
	if !slices.Equal(got.Roles, []string{"viewer"}) {
		t.Errorf("Roles after retry = %q, want [viewer]", got.Roles)
	}
}

func testCreateUserConcurrentSameEmail(t *testing.T, st store.Store) {
	ctx := t.Context()
	const n = 20
	users := make([]store.User, n)
	for i := range users {
		users[i] = userFor(t, "rajat.verma@example.com", now())
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			<-start
			errs[i] = st.CreateUser(ctx, &users[i], []string{"viewer"}, nil)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("CreateUser %d and %d both succeeded for one email", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("CreateUser %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateUser succeeded")
	}
	got, err := st.GetUserByEmail(ctx, "rajat.verma@example.com")
	if err != nil {
		t.Fatalf("GetUserByEmail: %v", err)
	}
	if got.ID != users[winner].ID {
		t.Errorf("stored user is %s, want the winner %s", got.ID, users[winner].ID)
	}
	list, err := st.ListUsers(ctx, store.UserQuery{Limit: 100})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(list) != 1 {
		t.Errorf("ListUsers returned %d users, want 1", len(list))
	}
}

func testCreateUserWritesAudit(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := userFor(t, "sample@sample.com", now())
	ev := &store.AuditEvent{
		ID:        newID(t),
		CreatedAt: now(),
		Type:      "user.signup",
		UserID:    u.ID,
		Result:    "success",
		IPAddress: "203.0.113.50",
		UserAgent: "curl/8.5.0",
		Details:   map[string]any{"method": "password", "roles": []any{"viewer"}},
	}
	if err := st.CreateUser(ctx, &u, []string{"viewer"}, ev); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	requireAudit(t, st, ev)
}

// testUnknownUserIsNotFound checks every method that addresses one user by
// id reports a well-formed id that names no user as ErrNotFound.
func testUnknownUserIsNotFound(t *testing.T, st store.Store) {
	id := newID(t)
	at := now()
	cases := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"GetUser", func(t *testing.T) error {
			_, err := st.GetUser(t.Context(), id)
			return err
		}},
		{"GetUserByEmail", func(t *testing.T) error {
			_, err := st.GetUserByEmail(t.Context(), "nobody@example.com")
			return err
		}},
		{"UpdateUser", func(t *testing.T) error {
			_, err := st.UpdateUser(t.Context(), id, store.UserPatch{Name: ptr("Nobody")}, at, nil)
			return err
		}},
		{"DeleteUser", func(t *testing.T) error {
			return st.DeleteUser(t.Context(), id, nil)
		}},
		{"SetUserStatus", func(t *testing.T) error {
			return st.SetUserStatus(t.Context(), id, store.UserSuspended, at, nil)
		}},
		{"RecordLoginFailure", func(t *testing.T) error {
			_, err := st.RecordLoginFailure(t.Context(), id, 5, 30*time.Minute, at)
			return err
		}},
		{"RehashPassword", func(t *testing.T) error {
			_, err := st.RehashPassword(t.Context(), id, testPasswordHash, newPasswordHash, at)
			return err
		}},
		{"CreateLoginSession", func(t *testing.T) error {
			s := sessionFor(t, id, at)
			_, err := st.CreateLoginSession(t.Context(), &s, nil, nil)
			return err
		}},
		{"UnlockUser", func(t *testing.T) error {
			return st.UnlockUser(t.Context(), id, at, nil)
		}},
		{"SetPassword", func(t *testing.T) error {
			return st.SetPassword(t.Context(), id, testPasswordHash, "", at, nil)
		}},
		{"SetUserRoles", func(t *testing.T) error {
			return st.SetUserRoles(t.Context(), id, []string{"viewer"}, at, nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.call(t), store.ErrNotFound, c.name)
		})
	}
}

func testListUsersQuery(t *testing.T, st store.Store) {
	people := []struct{ name, email string }{
		{"Alice Smith", "alice@test.com"},
		{"Bob Jones", "bob@mail.com"},
		{"John Doe", "John@Example.com"},
		{"Rajat Verma", "rajat.verma@example.com"},
	}
	byName := map[string]string{} // first word of name -> id
	var all []string
	for _, p := range people {
		u := userFor(t, p.email, now())
		u.Name = p.name
		createUser(t, st, u, "viewer")
		first, _, _ := strings.Cut(p.name, " ")
		byName[first] = u.ID
		all = append(all, u.ID)
	}
	pick := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, byName[n])
		}
		return sorted(out)
	}

	cases := []struct {
		query string
		want  []string
	}{
		{"", sorted(all)},
		{"example", pick("John", "Rajat")},
		{"EXAMPLE.COM", pick("John", "Rajat")},
		{"john@", pick("John")},
		{"smith", pick("Alice")},
		{"JONES", pick("Bob")},
		{"t V", pick("Rajat")},
		{"@mail.", pick("Bob")},
		{"nobody", nil},
		// The query is a literal substring, not a LIKE pattern.
		{"%", nil},
		{"_", nil},
		{"a%e", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("query %q", c.query), func(t *testing.T) {
			got, err := st.ListUsers(t.Context(), store.UserQuery{Query: c.query, Limit: 100})
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			gotIDs := ids(got, userID)
			if !slices.Equal(gotIDs, c.want) {
				t.Errorf("ListUsers(%q) = %q, want %q (in id order)", c.query, gotIDs, c.want)
			}
		})
	}
}

func testListUsersPagination(t *testing.T, st store.Store) {
	var all, paged []string
	for i := range 7 {
		u := userFor(t, fmt.Sprintf("user%d@example.com", i), now())
		if i%2 == 0 {
			u.Name = fmt.Sprintf("Paged Person %d", i)
		}
		createUser(t, st, u, "viewer")
		all = append(all, u.ID)
		if i%2 == 0 {
			paged = append(paged, u.ID)
		}
	}

	cases := []struct {
		name  string
		query string
		limit int
		want  []string
	}{
		{"all by 3", "", 3, sorted(all)},
		{"all by 7", "", 7, sorted(all)},
		{"all by 1", "", 1, sorted(all)},
		{"query by 2", "paged", 2, sorted(paged)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			after := ""
			for range len(all) + 2 {
				page, err := st.ListUsers(t.Context(), store.UserQuery{Query: c.query, After: after, Limit: c.limit})
				if err != nil {
					t.Fatalf("ListUsers(after %q): %v", after, err)
				}
				if len(page) > c.limit {
					t.Fatalf("ListUsers returned %d users, limit %d", len(page), c.limit)
				}
				got = append(got, ids(page, userID)...)
				if len(page) < c.limit {
					break
				}
				after = page[len(page)-1].ID
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("pages joined = %q, want %q", got, c.want)
			}
		})
	}

	t.Run("limit", func(t *testing.T) {
		page, err := st.ListUsers(t.Context(), store.UserQuery{Limit: 2})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if got, want := ids(page, userID), sorted(all)[:2]; !slices.Equal(got, want) {
			t.Errorf("ListUsers(limit 2) = %q, want %q", got, want)
		}
	})
}

func testUpdateUser(t *testing.T, st store.Store) {
	cases := []struct {
		name  string
		patch store.UserPatch
		apply func(u *store.User) // the expected change
	}{
		{
			name:  "name",
			patch: store.UserPatch{Name: ptr("Jane Roe")},
			apply: func(u *store.User) { u.Name = "Jane Roe" },
		},
		{
			name:  "first and last name",
			patch: store.UserPatch{FirstName: ptr("Jane"), LastName: ptr("Roe")},
			apply: func(u *store.User) { u.FirstName, u.LastName = "Jane", "Roe" },
		},
		{
			name:  "email",
			patch: store.UserPatch{Email: ptr("Jane.Roe@Example.org"), EmailNorm: ptr("jane.roe@example.org")},
			apply: func(u *store.User) { u.Email, u.EmailNormalized = "Jane.Roe@Example.org", "jane.roe@example.org" },
		},
		{
			name:  "attributes replaced",
			patch: store.UserPatch{Attributes: map[string]any{"region": "eu"}},
			apply: func(u *store.User) { u.Attributes = map[string]any{"region": "eu"} },
		},
		{
			name:  "attributes cleared",
			patch: store.UserPatch{Attributes: map[string]any{}},
			apply: func(u *store.User) { u.Attributes = nil },
		},
		{
			name:  "name only keeps attributes",
			patch: store.UserPatch{Name: ptr("Only Name")},
			apply: func(u *store.User) { u.Name = "Only Name" },
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			u := userFor(t, fmt.Sprintf("update%d@example.com", i), now().Add(-time.Hour))
			u.Username = ptr(fmt.Sprintf("update%d", i))
			u.FirstName, u.LastName = "First", "Last"
			u.Attributes = map[string]any{"department": "engineering", "level": 2}
			u = createUser(t, st, u, "editor", "viewer")

			at := now()
			ev := auditFor(t, "user.updated", u.ID, at)
			got, err := st.UpdateUser(ctx, u.ID, c.patch, at, ev)
			if err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			want := u
			c.apply(&want)
			want.UpdatedAt = at
			if d := userDiff(got, want); len(d) > 0 {
				t.Errorf("UpdateUser result differs:\n%s", d)
			}
			if d := userDiff(getUser(t, st, u.ID), want); len(d) > 0 {
				t.Errorf("GetUser after UpdateUser differs:\n%s", d)
			}
			if c.patch.EmailNorm != nil {
				byEmail, err := st.GetUserByEmail(ctx, *c.patch.EmailNorm)
				if err != nil || byEmail.ID != u.ID {
					t.Errorf("GetUserByEmail(new email) = %s, %v; want %s", byEmail.ID, err, u.ID)
				}
				_, err = st.GetUserByEmail(ctx, u.EmailNormalized)
				wantErr(t, err, store.ErrNotFound, "GetUserByEmail(old email)")
			}
			requireAudit(t, st, ev)
		})
	}
}

func testUpdateUserErrors(t *testing.T, st store.Store) {
	ctx := t.Context()
	newUser(t, st, "alice@test.com")
	bob := newUser(t, st, "bob@mail.com")

	ev := auditFor(t, "user.updated", bob.ID, now())
	_, err := st.UpdateUser(ctx, bob.ID, store.UserPatch{
		Name:      ptr("Not Bob"),
		Email:     ptr("Alice@Test.com"),
		EmailNorm: ptr("alice@test.com"),
	}, now(), ev)
	wantErr(t, err, store.ErrConflict, "UpdateUser to an existing email")
	if d := userDiff(getUser(t, st, bob.ID), bob); len(d) > 0 {
		t.Errorf("user changed by a refused update:\n%s", d)
	}
	requireNoAudit(t, st, ev)

	_, err = st.UpdateUser(ctx, newID(t), store.UserPatch{Name: ptr("Nobody")}, now(), nil)
	wantErr(t, err, store.ErrNotFound, "UpdateUser of an unknown id")
}

func testDeleteUser(t *testing.T, st store.Store) {
	ctx := t.Context()
	admin := newUser(t, st, "admin@example.com", "admin")
	u := newUser(t, st, "john@example.com", "editor")
	other := newUser(t, st, "alice@test.com")
	at := now()
	s, rt := newSession(t, st, u.ID, at)
	otherSession, _ := newSession(t, st, other.ID, at)

	ev := auditFor(t, "user.deleted", u.ID, at)
	ev.ActorID = admin.ID
	if err := st.DeleteUser(ctx, u.ID, ev); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}

	_, err := st.GetUser(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after DeleteUser")
	_, err = st.GetUserByEmail(ctx, u.EmailNormalized)
	wantErr(t, err, store.ErrNotFound, "GetUserByEmail after DeleteUser")
	_, _, err = st.GetSession(ctx, s.ID)
	wantErr(t, err, store.ErrNotFound, "GetSession of the deleted user's session")
	_, _, err = st.GetSessionByTokenHash(ctx, s.TokenHash)
	wantErr(t, err, store.ErrNotFound, "GetSessionByTokenHash of the deleted user's session")
	requireNoRotation(t, st, rt.TokenHash, at.Add(time.Minute), "refresh token of a deleted user")
	if n, err := st.CountUsersWithRole(ctx, "editor"); err != nil || n != 0 {
		t.Errorf("CountUsersWithRole(editor) = %d, %v; want 0 after deleting the only editor", n, err)
	}

	// The audit trail outlives the user it is about.
	requireAudit(t, st, ev)

	requireStatus(t, st, otherSession.ID, store.SessionActive, at)
	wantErr(t, st.DeleteUser(ctx, u.ID, nil), store.ErrNotFound, "second DeleteUser")

	// The email is free again.
	newUser(t, st, "john@example.com")
}
