package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testSessionRoundTrip(t *testing.T, st store.Store) {
	u := newUser(t, st, "john@example.com", "viewer", "editor")
	at := now()

	withRefresh := sessionFor(t, u.ID, at)
	withRefresh.AMR = []string{"pwd", "otp"}
	browser := sessionFor(t, u.ID, at)
	browser.AMR = nil
	browser.IPAddress = "2001:db8::42"

	cases := []struct {
		name    string
		session store.Session
		refresh bool
		audit   bool
	}{
		{"with refresh token and audit", withRefresh, true, true},
		{"browser session without refresh token", browser, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := c.session
			var rt *store.RefreshToken
			if c.refresh {
				rt = ptr(refreshFor(t, s))
			}
			var ev *store.AuditEvent
			if c.audit {
				ev = auditFor(t, "session.created", u.ID, at)
			}
			if _, err := st.CreateLoginSession(ctx, &s, rt, ev); err != nil {
				t.Fatalf("CreateLoginSession: %v", err)
			}
			if s.ID != c.session.ID {
				t.Fatalf("CreateLoginSession replaced the caller's id %s with %s", c.session.ID, s.ID)
			}
			// The user as stored now, with the login recorded on it.
			u := getUser(t, st, u.ID)

			gotS, gotU, err := st.GetSession(ctx, s.ID)
			if err != nil {
				t.Fatalf("GetSession: %v", err)
			}
			if d := sessionDiff(gotS, s); len(d) > 0 {
				t.Errorf("GetSession session differs:\n%s", d)
			}
			if d := userDiff(gotU, u); len(d) > 0 {
				t.Errorf("GetSession user differs:\n%s", d)
			}

			gotS, gotU, err = st.GetSessionByTokenHash(ctx, s.TokenHash)
			if err != nil {
				t.Fatalf("GetSessionByTokenHash: %v", err)
			}
			if d := sessionDiff(gotS, s); len(d) > 0 {
				t.Errorf("GetSessionByTokenHash session differs:\n%s", d)
			}
			if d := userDiff(gotU, u); len(d) > 0 {
				t.Errorf("GetSessionByTokenHash user differs:\n%s", d)
			}
			if ev != nil {
				requireAudit(t, st, ev)
			}
			if rt != nil {
				requireRotation(t, st, rt.TokenHash, s.ID, at.Add(time.Minute))
			}
		})
	}

	t.Run("unknown", func(t *testing.T) {
		_, _, err := st.GetSession(t.Context(), newID(t))
		wantErr(t, err, store.ErrNotFound, "GetSession of an unknown id")
		_, _, err = st.GetSessionByTokenHash(t.Context(), newTokenHash())
		wantErr(t, err, store.ErrNotFound, "GetSessionByTokenHash of an unknown hash")
	})
}

func testTouchSession(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "bob@mail.com")
	at := now()
	s, _ := newSession(t, st, u.ID, at)

	seen := at.Add(90 * time.Minute)
	idle := seen.Add(2 * time.Hour)
	if err := st.TouchSession(ctx, s.ID, seen, idle); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	got := getSession(t, st, s.ID)
	want := s
	want.LastSeenAt = seen
	want.IdleExpiresAt = idle
	want.UpdatedAt = got.UpdatedAt // not part of this contract
	if d := sessionDiff(got, want); len(d) > 0 {
		t.Errorf("session after TouchSession differs:\n%s", d)
	}

	// Sliding renewal: past the first idle expiry, before the new one.
	later := at.Add(3 * time.Hour)
	active, err := st.ListActiveSessions(ctx, u.ID, later)
	if err != nil {
		t.Fatalf("ListActiveSessions: %v", err)
	}
	if got := ids(active, sessionID); !slices.Equal(got, []string{s.ID}) {
		t.Errorf("ListActiveSessions after renewal = %q, want [%s]", got, s.ID)
	}

	wantErr(t, st.TouchSession(ctx, newID(t), seen, idle), store.ErrNotFound, "TouchSession of an unknown id")
}

func testListActiveSessions(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "john@example.com")
	other := newUser(t, st, "alice@test.com")
	at := now()
	query := at.Add(30 * time.Minute)

	live1, _ := newSession(t, st, u.ID, at)
	live2, _ := newSession(t, st, u.ID, at.Add(time.Second))

	ended, _ := newSession(t, st, u.ID, at)
	if err := st.EndSession(ctx, ended.ID, store.SessionLoggedOut, at.Add(time.Minute), nil); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	absExpired := sessionFor(t, u.ID, at)
	absExpired.ExpiresAt = at.Add(10 * time.Minute)
	createSession(t, st, absExpired, nil)
	idleExpired := sessionFor(t, u.ID, at)
	idleExpired.IdleExpiresAt = at.Add(20 * time.Minute)
	createSession(t, st, idleExpired, nil)
	newSession(t, st, other.ID, at)

	got, err := st.ListActiveSessions(ctx, u.ID, query)
	if err != nil {
		t.Fatalf("ListActiveSessions: %v", err)
	}
	want := map[string]store.Session{live1.ID: live1, live2.ID: live2}
	if gotIDs, wantIDs := sorted(ids(got, sessionID)), sorted([]string{live1.ID, live2.ID}); !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("ListActiveSessions = %q, want %q", gotIDs, wantIDs)
	}
	// S15: what the account page shows comes back intact.
	for _, s := range got {
		if d := sessionDiff(s, want[s.ID]); len(d) > 0 {
			t.Errorf("listed session %s differs:\n%s", s.ID, d)
		}
	}

	none, err := st.ListActiveSessions(ctx, newID(t), query)
	if err != nil || len(none) != 0 {
		t.Errorf("ListActiveSessions(unknown user) = %d sessions, %v; want none", len(none), err)
	}
}

func testEndSession(t *testing.T, st store.Store) {
	cases := []struct {
		status string
	}{
		{store.SessionLoggedOut},
		{store.SessionRevoked},
	}
	for _, c := range cases {
		t.Run(c.status, func(t *testing.T) {
			ctx := t.Context()
			u := newUser(t, st, fmt.Sprintf("end-%s@example.com", c.status))
			at := now()
			s, rt := newSession(t, st, u.ID, at)
			sibling, siblingRT := newSession(t, st, u.ID, at)

			endAt := at.Add(time.Minute)
			ev := auditFor(t, "session."+c.status, u.ID, endAt)
			if err := st.EndSession(ctx, s.ID, c.status, endAt, ev); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
			got := getSession(t, st, s.ID)
			want := s
			want.Status = c.status
			switch c.status {
			case store.SessionLoggedOut:
				want.LoggedOutAt = &endAt
			case store.SessionRevoked:
				want.RevokedAt = &endAt
			}
			want.UpdatedAt = got.UpdatedAt // not part of this contract
			if d := sessionDiff(got, want); len(d) > 0 {
				t.Errorf("session after EndSession differs:\n%s", d)
			}
			requireAudit(t, st, ev)

			// J15: logout kills the session's refresh tokens.
			requireNoRotation(t, st, rt.TokenHash, endAt.Add(time.Second), "refresh token of an ended session")
			wantErr(t, st.EndSession(ctx, s.ID, c.status, endAt.Add(time.Second), nil), store.ErrNotFound,
				"EndSession of an ended session")

			// Only that session.
			requireStatus(t, st, sibling.ID, store.SessionActive, at)
			requireRotation(t, st, siblingRT.TokenHash, sibling.ID, endAt.Add(time.Second))
		})
	}

	t.Run("unknown", func(t *testing.T) {
		err := st.EndSession(t.Context(), newID(t), store.SessionLoggedOut, now(), nil)
		wantErr(t, err, store.ErrNotFound, "EndSession of an unknown id")
	})
}

func testRevokeUserSessions(t *testing.T, st store.Store) {
	cases := []struct {
		name   string
		except int // index of the session to spare, -1 for none
	}{
		{"except current", 0},
		{"all", -1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			u := newUser(t, st, fmt.Sprintf("revoke%d@example.com", i))
			other := newUser(t, st, fmt.Sprintf("revoke-bystander%d@example.com", i))
			at := now()
			var sessions []store.Session
			var tokens []store.RefreshToken
			for range 3 {
				s, rt := newSession(t, st, u.ID, at)
				sessions, tokens = append(sessions, s), append(tokens, rt)
			}
			loggedOut, _ := newSession(t, st, u.ID, at)
			logoutAt := at.Add(time.Second)
			if err := st.EndSession(ctx, loggedOut.ID, store.SessionLoggedOut, logoutAt, nil); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
			otherSession, _ := newSession(t, st, other.ID, at)

			exceptID := ""
			var want []string
			for j, s := range sessions {
				if j == c.except {
					exceptID = s.ID
					continue
				}
				want = append(want, s.ID)
			}

			revokeAt := at.Add(time.Minute)
			ev := auditFor(t, "sessions.revoked", u.ID, revokeAt)
			got, err := st.RevokeUserSessions(ctx, u.ID, exceptID, revokeAt, ev)
			if err != nil {
				t.Fatalf("RevokeUserSessions: %v", err)
			}
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Errorf("RevokeUserSessions returned %q, want %q", sorted(got), sorted(want))
			}
			requireAudit(t, st, ev)

			for j, s := range sessions {
				if j == c.except {
					requireStatus(t, st, s.ID, store.SessionActive, at)
					requireRotation(t, st, tokens[j].TokenHash, s.ID, revokeAt.Add(time.Second))
					continue
				}
				requireStatus(t, st, s.ID, store.SessionRevoked, revokeAt)
				requireNoRotation(t, st, tokens[j].TokenHash, revokeAt.Add(time.Second),
					fmt.Sprintf("refresh token of revoked session %d", j))
			}
			requireStatus(t, st, loggedOut.ID, store.SessionLoggedOut, logoutAt)
			requireStatus(t, st, otherSession.ID, store.SessionActive, at)

			// Nothing left to revoke.
			again, err := st.RevokeUserSessions(ctx, u.ID, exceptID, revokeAt.Add(time.Second), nil)
			if err != nil || len(again) != 0 {
				t.Errorf("second RevokeUserSessions = %q, %v; want none", again, err)
			}
		})
	}
}

func testExpireSessions(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "john@example.com")
	at := now()
	run := at.Add(30 * time.Minute)
	keepAll := at.Add(-365 * 24 * time.Hour) // purge nothing

	absExpired := sessionFor(t, u.ID, at)
	absExpired.ExpiresAt = at.Add(10 * time.Minute)
	absRT := refreshFor(t, absExpired)
	createSession(t, st, absExpired, &absRT)
	idleExpired := sessionFor(t, u.ID, at)
	idleExpired.IdleExpiresAt = at.Add(20 * time.Minute)
	createSession(t, st, idleExpired, nil)
	live, liveRT := newSession(t, st, u.ID, at)
	// Ended before it expired: it keeps the status that ended it.
	ended := sessionFor(t, u.ID, at)
	ended.ExpiresAt = at.Add(10 * time.Minute)
	createSession(t, st, ended, nil)
	if err := st.EndSession(ctx, ended.ID, store.SessionLoggedOut, at.Add(time.Minute), nil); err != nil {
		t.Fatalf("EndSession: %v", err)
	}

	n, err := st.ExpireSessions(ctx, run, keepAll, 100)
	if err != nil {
		t.Fatalf("ExpireSessions: %v", err)
	}
	if n < 2 {
		t.Errorf("ExpireSessions touched %d rows, want at least the 2 expired sessions", n)
	}
	requireStatus(t, st, absExpired.ID, store.SessionExpired, run)
	requireStatus(t, st, idleExpired.ID, store.SessionExpired, run)
	requireStatus(t, st, live.ID, store.SessionActive, at)
	requireStatus(t, st, ended.ID, store.SessionLoggedOut, at.Add(time.Minute))

	// An expired session mints no more tokens; a live one still does.
	requireNoRotation(t, st, absRT.TokenHash, run.Add(time.Second), "refresh token of an expired session")
	requireRotation(t, st, liveRT.TokenHash, live.ID, run.Add(time.Second))

	n, err = st.ExpireSessions(ctx, run, keepAll, 100)
	if err != nil || n != 0 {
		t.Errorf("second ExpireSessions = %d, %v; want 0, nil", n, err)
	}
}

func testExpireSessionsLimit(t *testing.T, st store.Store) {
	ctx := t.Context()
	const total, limit = 5, 2
	u := newUser(t, st, "alice@test.com")
	at := now()
	run := at.Add(time.Hour)
	keepAll := at.Add(-365 * 24 * time.Hour)
	var all []string
	for range total {
		s := sessionFor(t, u.ID, at)
		s.ExpiresAt = at.Add(time.Minute)
		createSession(t, st, s, nil)
		all = append(all, s.ID)
	}
	countExpired := func() int {
		c := 0
		for _, id := range all {
			if getSession(t, st, id).Status == store.SessionExpired {
				c++
			}
		}
		return c
	}

	prev := 0
	for call := 1; ; call++ {
		if call > total+2 {
			t.Fatalf("ExpireSessions still reports work after %d calls", call-1)
		}
		n, err := st.ExpireSessions(ctx, run, keepAll, limit)
		if err != nil {
			t.Fatalf("ExpireSessions call %d: %v", call, err)
		}
		expired := countExpired()
		if d := expired - prev; d > limit {
			t.Errorf("call %d expired %d sessions, limit %d", call, d, limit)
		}
		if n == 0 {
			if expired != prev {
				t.Errorf("call %d expired %d sessions but reported 0", call, expired-prev)
			}
			break
		}
		if expired == prev {
			t.Errorf("call %d reported %d rows but expired no session", call, n)
		}
		prev = expired
	}
	if prev != total {
		t.Errorf("%d of %d sessions expired after ExpireSessions reported no more work", prev, total)
	}
}

func testExpireSessionsPurge(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "bob@mail.com")
	at := now()
	ended, _ := newSession(t, st, u.ID, at)
	if err := st.EndSession(ctx, ended.ID, store.SessionLoggedOut, at.Add(time.Minute), nil); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	live, liveRT := newSession(t, st, u.ID, at)

	run := at.Add(5 * time.Minute)
	n, err := st.ExpireSessions(ctx, run, run, 100)
	if err != nil {
		t.Fatalf("ExpireSessions: %v", err)
	}
	if n < 1 {
		t.Errorf("ExpireSessions touched %d rows, want at least the purged session", n)
	}
	_, _, err = st.GetSession(ctx, ended.ID)
	wantErr(t, err, store.ErrNotFound, "GetSession of a purged session")

	// Purging never touches what is still in use.
	requireStatus(t, st, live.ID, store.SessionActive, at)
	requireRotation(t, st, liveRT.TokenHash, live.ID, run.Add(time.Second))
}

// isNotFoundOrReused reports whether err is one of the two refusals of a
// refresh token.
func isNotFoundOrReused(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrRefreshReused)
}

func testEndedSessions(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "feed@example.com")
	before := now().Add(-time.Second)
	a, _ := newSession(t, st, u.ID, now())
	b, _ := newSession(t, st, u.ID, now())
	_, _ = newSession(t, st, u.ID, now()) // stays active
	if err := st.EndSession(ctx, a.ID, store.SessionLoggedOut, now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.EndSession(ctx, b.ID, store.SessionRevoked, now().Add(time.Millisecond), nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.EndedSessions(ctx, before, 10)
	if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
		t.Fatalf("EndedSessions = %+v, %v; want [a, b] in order", got, err)
	}
	later, err := st.EndedSessions(ctx, got[1].EndedAt, 10)
	if err != nil || len(later) != 0 {
		t.Fatalf("EndedSessions after the last = %+v, %v", later, err)
	}
}
