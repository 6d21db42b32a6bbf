package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testRotateRefreshToken(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "john@example.com", "editor", "viewer")
	at := now()
	s, rt := newSession(t, st, u.ID, at)
	u = getUser(t, st, u.ID) // with the login recorded

	// J13: every use rotates; each new token works exactly once, in turn.
	hash := rt.TokenHash
	for i := 1; i <= 3; i++ {
		rotateAt := at.Add(time.Duration(i) * time.Minute)
		next := nextRefresh(t, rotateAt)
		gotS, gotU, err := st.RotateRefreshToken(ctx, hash, &next, rotateAt)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if gotS.ID != s.ID || gotS.UserID != u.ID || gotS.Status != store.SessionActive {
			t.Errorf("rotation %d: session = {ID %s, UserID %s, Status %q}, want {%s, %s, active}",
				i, gotS.ID, gotS.UserID, gotS.Status, s.ID, u.ID)
		}
		// J16/J17: refresh re-reads roles and status.
		if d := userDiff(gotU, u); len(d) > 0 {
			t.Errorf("rotation %d: user differs:\n%s", i, d)
		}
		hash = next.TokenHash
	}
	requireStatus(t, st, s.ID, store.SessionActive, at)
}

func testRotateRefreshTokenReuse(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "alice@test.com")
	at := now()
	s, rt := newSession(t, st, u.ID, at)
	sibling, siblingRT := newSession(t, st, u.ID, at)

	first := requireRotation(t, st, rt.TokenHash, s.ID, at.Add(time.Minute))

	// The spent token comes back: someone else holds a copy.
	reuseAt := at.Add(2 * time.Minute)
	replay := nextRefresh(t, reuseAt)
	_, _, err := st.RotateRefreshToken(ctx, rt.TokenHash, &replay, reuseAt)
	wantErr(t, err, store.ErrRefreshReused, "rotating a spent token")

	// The whole family is dead, committed although the call failed.
	requireStatus(t, st, s.ID, store.SessionRevoked, reuseAt)
	requireNoRotation(t, st, first.TokenHash, reuseAt.Add(time.Second), "newest token of a reused family")
	next := nextRefresh(t, reuseAt)
	_, _, err = st.RotateRefreshToken(ctx, replay.TokenHash, &next, reuseAt.Add(time.Second))
	wantErr(t, err, store.ErrNotFound, "token offered in the refused reuse (must not be stored)")

	// Other sessions of the same user are other families.
	requireStatus(t, st, sibling.ID, store.SessionActive, at)
	requireRotation(t, st, siblingRT.TokenHash, sibling.ID, reuseAt.Add(time.Second))
}

func testRotateRefreshTokenRejects(t *testing.T, st store.Store) {
	u := newUser(t, st, "bob@mail.com")
	at := now()

	cases := []struct {
		name string
		// setup returns the hash to present, when to present it, and the
		// session it belongs to ("" for none).
		setup func(t *testing.T) (hash string, when time.Time, sessionID string)
	}{
		{"unknown token", func(t *testing.T) (string, time.Time, string) {
			return newTokenHash(), at, ""
		}},
		{"expired token", func(t *testing.T) (string, time.Time, string) {
			s := sessionFor(t, u.ID, at)
			rt := refreshFor(t, s)
			rt.ExpiresAt = at.Add(time.Minute)
			createSession(t, st, s, &rt)
			return rt.TokenHash, at.Add(2 * time.Minute), s.ID
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			hash, when, sid := c.setup(t)
			next := nextRefresh(t, when)
			_, _, err := st.RotateRefreshToken(ctx, hash, &next, when)
			wantErr(t, err, store.ErrNotFound, "RotateRefreshToken")

			// The refused call stored nothing and revoked nothing.
			after := nextRefresh(t, when)
			_, _, err = st.RotateRefreshToken(ctx, next.TokenHash, &after, when)
			wantErr(t, err, store.ErrNotFound, "token offered in a refused rotation")
			if sid != "" {
				requireStatus(t, st, sid, store.SessionActive, at)
			}
		})
	}
}

func testRotateRefreshTokenConcurrent(t *testing.T, st store.Store) {
	ctx := t.Context()
	const n = 10
	u := newUser(t, st, "rajat.verma@example.com")
	at := now()
	s, rt := newSession(t, st, u.ID, at)
	rotateAt := at.Add(time.Minute)

	nexts := make([]store.RefreshToken, n)
	for i := range nexts {
		nexts[i] = nextRefresh(t, rotateAt)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, _, errs[i] = st.RotateRefreshToken(ctx, rt.TokenHash, &nexts[i], rotateAt)
		})
	}
	close(start)
	wg.Wait()

	var wins []int
	reused := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins = append(wins, i)
		case errors.Is(err, store.ErrRefreshReused):
			reused++
		case !isNotFoundOrReused(err):
			t.Errorf("rotation %d: err = %v, want nil, ErrRefreshReused or ErrNotFound", i, err)
		}
	}
	if len(wins) != 1 {
		t.Fatalf("%d of %d concurrent rotations of one token succeeded (%v), want exactly 1", len(wins), n, wins)
	}
	// The first loser to run after the winner saw a spent token.
	if reused == 0 {
		t.Errorf("no loser reported ErrRefreshReused; errors: %v", errs)
	}
	requireStatus(t, st, s.ID, store.SessionRevoked, rotateAt)
	requireNoRotation(t, st, nexts[wins[0]].TokenHash, rotateAt.Add(time.Second), "winner's token after reuse")
	for i := range nexts {
		if !slices.Contains(wins, i) {
			requireNoRotation(t, st, nexts[i].TokenHash, rotateAt.Add(time.Second), "a loser's token")
		}
	}
}
