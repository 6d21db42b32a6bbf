package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testAuditRoundTrip(t *testing.T, st store.Store) {
	admin := newUser(t, st, "admin@example.com", "admin")
	u := newUser(t, st, "john@example.com")
	at := now()

	withActor := auditFor(t, "user.roles_changed", u.ID, at)
	withActor.ActorID = admin.ID
	withActor.Details = map[string]any{"from": []any{"viewer"}, "to": []any{"editor"}, "n": 2}

	// L15: a failed login for an email nobody owns names no user.
	anonymous := auditFor(t, "login.failed", "", at)
	anonymous.Result = "failure"
	anonymous.Details = map[string]any{"reason": "unknown_email", "email": "nobody@example.com"}

	// Events may outlive, or precede, the rows they name.
	gone := auditFor(t, "user.deleted", newID(t), at)
	gone.ActorID = newID(t)

	bare := auditFor(t, "session.touched", u.ID, at)
	bare.Details = nil
	bare.IPAddress, bare.UserAgent = "", ""

	cases := []struct {
		name string
		ev   *store.AuditEvent
	}{
		{"actor and user", withActor},
		{"anonymous", anonymous},
		{"unknown user and actor", gone},
		{"no details", bare},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := st.AppendAudit(t.Context(), c.ev); err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
			requireAudit(t, st, c.ev)
		})
	}

	// A user filter leaves out events about nobody.
	if _, ok := findAudit(t, st, store.AuditQuery{UserID: u.ID}, anonymous.ID); ok {
		t.Errorf("ListAudit(UserID %s) returned an event with no user", u.ID)
	}
}

func testListAudit(t *testing.T, st store.Store) {
	u := newUser(t, st, "alice@test.com")
	other := newUser(t, st, "bob@mail.com")
	at := now()

	type written struct{ id, userID, typ string }
	var log []written // in creation (= id) order
	add := func(typ, userID string) {
		t.Helper()
		ev := auditFor(t, typ, userID, at.Add(time.Duration(len(log))*time.Millisecond))
		if err := st.AppendAudit(t.Context(), ev); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		log = append(log, written{ev.ID, userID, typ})
	}
	for i := range 7 {
		if i%3 == 0 {
			add("login.failed", u.ID)
		} else {
			add("login.succeeded", u.ID)
		}
		if i%2 == 0 {
			add("login.failed", other.ID)
		}
	}
	add("login.failed", "")

	// expect lists the ids q selects, newest first.
	expect := func(q store.AuditQuery) []string {
		var out []string
		for _, w := range slices.Backward(log) {
			if (q.UserID == "" || w.userID == q.UserID) && (q.Type == "" || w.typ == q.Type) {
				out = append(out, w.id)
			}
		}
		return out
	}

	queries := []store.AuditQuery{
		{UserID: u.ID},
		{UserID: u.ID, Type: "login.failed"},
		{UserID: u.ID, Type: "login.succeeded"},
		{UserID: other.ID},
		{Type: "login.failed"},
		{Type: "no.such.type"},
	}
	for _, q := range queries {
		for _, limit := range []int{1, 3, 100} {
			t.Run(fmt.Sprintf("user=%q type=%q limit=%d", q.UserID, q.Type, limit), func(t *testing.T) {
				want := expect(q)
				var got []string
				q := q // this copy pages; the outer q serves the other limits
				q.Limit = limit
				for range len(log) + 2 {
					page, err := st.ListAudit(t.Context(), q)
					if err != nil {
						t.Fatalf("ListAudit(%+v): %v", q, err)
					}
					if len(page) > limit {
						t.Fatalf("ListAudit returned %d events, limit %d", len(page), limit)
					}
					got = append(got, ids(page, auditID)...)
					if len(page) < limit {
						break
					}
					q.Before = page[len(page)-1].ID
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages joined = %q,\nwant (newest first) %q", got, want)
				}
			})
		}
	}
}
