package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

const newPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c3RvcmV0ZXN0c2FsdA$bmV3c3RvcmV0ZXN0aGFzaG5ld3N0b3JldGVzdGg"

func testSetUserStatus(t *testing.T, st store.Store) {
	ctx := t.Context()
	at := now()
	u := newUser(t, st, "john@example.com")
	other := newUser(t, st, "alice@test.com")
	s1, rt1 := newSession(t, st, u.ID, at)
	s2, rt2 := newSession(t, st, u.ID, at)
	loggedOut, _ := newSession(t, st, u.ID, at)
	logoutAt := at.Add(time.Second)
	if err := st.EndSession(ctx, loggedOut.ID, store.SessionLoggedOut, logoutAt, nil); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	otherSession, otherRT := newSession(t, st, other.ID, at)

	suspendAt := at.Add(time.Minute)
	ev := auditFor(t, "user.suspended", u.ID, suspendAt)
	if err := st.SetUserStatus(ctx, u.ID, store.UserSuspended, suspendAt, ev); err != nil {
		t.Fatalf("SetUserStatus(suspended): %v", err)
	}
	if got := getUser(t, st, u.ID).Status; got != store.UserSuspended {
		t.Errorf("Status = %q, want %q", got, store.UserSuspended)
	}
	requireAudit(t, st, ev)

	// S16: suspending logs the user out everywhere at once.
	requireStatus(t, st, s1.ID, store.SessionRevoked, suspendAt)
	requireStatus(t, st, s2.ID, store.SessionRevoked, suspendAt)
	requireStatus(t, st, loggedOut.ID, store.SessionLoggedOut, logoutAt)
	requireNoActiveSessions(t, st, u.ID, suspendAt.Add(time.Second))
	requireNoRotation(t, st, rt1.TokenHash, suspendAt.Add(time.Second), "refresh token of a suspended user")

	// Other users are untouched.
	requireStatus(t, st, otherSession.ID, store.SessionActive, at)
	requireRotation(t, st, otherRT.TokenHash, otherSession.ID, suspendAt.Add(time.Second))

	// Reactivation does not resurrect anything.
	resumeAt := at.Add(2 * time.Minute)
	if err := st.SetUserStatus(ctx, u.ID, store.UserActive, resumeAt, nil); err != nil {
		t.Fatalf("SetUserStatus(active): %v", err)
	}
	if got := getUser(t, st, u.ID).Status; got != store.UserActive {
		t.Errorf("Status = %q, want %q", got, store.UserActive)
	}
	requireStatus(t, st, s1.ID, store.SessionRevoked, suspendAt)
	requireStatus(t, st, s2.ID, store.SessionRevoked, suspendAt)
	requireNoActiveSessions(t, st, u.ID, resumeAt.Add(time.Second))
	requireNoRotation(t, st, rt2.TokenHash, resumeAt.Add(time.Second), "refresh token after reactivation")
}

func requireNoActiveSessions(t *testing.T, st store.Store, userID string, at time.Time) {
	t.Helper()
	active, err := st.ListActiveSessions(t.Context(), userID, at)
	if err != nil {
		t.Fatalf("ListActiveSessions: %v", err)
	}
	if len(active) != 0 {
		t.Errorf("ListActiveSessions = %q, want none", ids(active, sessionID))
	}
}

func testLoginFailureLockout(t *testing.T, st store.Store) {
	ctx := t.Context()
	const threshold, lockFor = 3, 30 * time.Minute
	u := newUser(t, st, "bob@mail.com")
	at := now()

	var lockedAt time.Time
	for i := 1; i <= threshold; i++ {
		failAt := at.Add(time.Duration(i) * time.Second)
		lf, err := st.RecordLoginFailure(ctx, u.ID, threshold, lockFor, failAt)
		if err != nil {
			t.Fatalf("RecordLoginFailure %d: %v", i, err)
		}
		if lf.Attempts != i {
			t.Errorf("failure %d: Attempts = %d, want %d", i, lf.Attempts, i)
		}
		switch {
		case i < threshold && lf.LockedUntil != nil:
			t.Errorf("failure %d of %d locked the account until %v", i, threshold, lf.LockedUntil)
		case i == threshold && (lf.LockedUntil == nil || !sameTime(*lf.LockedUntil, failAt.Add(lockFor))):
			t.Errorf("failure %d: LockedUntil = %s, want %v", i, fmtTimePtr(lf.LockedUntil), failAt.Add(lockFor))
		}
		lockedAt = failAt
	}
	got := getUser(t, st, u.ID)
	if got.FailedLoginAttempts != threshold {
		t.Errorf("FailedLoginAttempts = %d, want %d", got.FailedLoginAttempts, threshold)
	}
	if got.LockedUntil == nil || !sameTime(*got.LockedUntil, lockedAt.Add(lockFor)) {
		t.Errorf("LockedUntil = %s, want %v", fmtTimePtr(got.LockedUntil), lockedAt.Add(lockFor))
	}

	// A login resets the counter, so the next failure is the first again.
	loginSession(t, st, u.ID, at.Add(time.Hour), true)
	lf, err := st.RecordLoginFailure(ctx, u.ID, threshold, lockFor, at.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("RecordLoginFailure after success: %v", err)
	}
	if lf.Attempts != 1 || lf.LockedUntil != nil {
		t.Errorf("first failure after a success = %+v, want Attempts 1 and no lock", lf)
	}
}

func testLoginFailureConcurrent(t *testing.T, st store.Store) {
	ctx := t.Context()
	const n = 10
	u := newUser(t, st, "alice@test.com")
	at := now()
	attempts := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			lf, err := st.RecordLoginFailure(ctx, u.ID, 100, time.Hour, at)
			attempts[i], errs[i] = lf.Attempts, err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("RecordLoginFailure %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	// Atomic increments hand out every count exactly once.
	slices.Sort(attempts)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(attempts, want) {
		t.Errorf("Attempts returned = %v, want %v", attempts, want)
	}
	if got := getUser(t, st, u.ID); got.FailedLoginAttempts != n || got.LockedUntil != nil {
		t.Errorf("after %d failures: FailedLoginAttempts = %d, LockedUntil = %s; want %d, nil",
			n, got.FailedLoginAttempts, fmtTimePtr(got.LockedUntil), n)
	}
}

// testCreateLoginSession: a login's session records the login on the
// user (L14) with the session, its refresh token and audit event, however
// the store batches them (the one-statement path with both, a transaction
// without).
func testCreateLoginSession(t *testing.T, st store.Store) {
	for i, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("refresh token and audit %v", batched), func(t *testing.T) {
			ctx := t.Context()
			u := newUser(t, st, fmt.Sprintf("login%d@example.com", i))
			at := now()
			for range 2 {
				if _, err := st.RecordLoginFailure(ctx, u.ID, 2, 30*time.Minute, at); err != nil {
					t.Fatalf("RecordLoginFailure: %v", err)
				}
			}
			if getUser(t, st, u.ID).LockedUntil == nil {
				t.Fatal("two failures at threshold 2 did not lock the account")
			}

			loginAt := at.Add(time.Minute)
			s, rt, ev := loginSession(t, st, u.ID, loginAt, batched)
			got := getUser(t, st, u.ID)
			want := u
			want.FailedLoginAttempts = 0
			want.LockedUntil = nil
			want.LastLoginAt = &loginAt
			want.LastLoginIP = s.IPAddress
			want.UpdatedAt = got.UpdatedAt // not part of this contract
			if d := userDiff(got, want); len(d) > 0 {
				t.Errorf("user after CreateLoginSession differs:\n%s", d)
			}
			gotS, _, err := st.GetSession(ctx, s.ID)
			if err != nil {
				t.Fatalf("GetSession: %v", err)
			}
			if d := sessionDiff(gotS, s); len(d) > 0 {
				t.Errorf("login session differs:\n%s", d)
			}
			if ev != nil {
				requireAudit(t, st, ev)
			}
			if rt != nil {
				requireRotation(t, st, rt.TokenHash, s.ID, loginAt.Add(time.Minute))
			}
		})
	}
}

// loginSession stores a login's session of userID created at at, with a
// refresh token and an audit event when batched, and returns them.
func loginSession(t *testing.T, st store.Store, userID string, at time.Time, batched bool) (store.Session, *store.RefreshToken, *store.AuditEvent) {
	t.Helper()
	s := sessionFor(t, userID, at)
	rt, ev := loginRows(t, s, batched, at)
	if _, err := st.CreateLoginSession(t.Context(), &s, rt, ev); err != nil {
		t.Fatalf("CreateLoginSession: %v", err)
	}
	return s, rt, ev
}

// loginRows returns the refresh token and audit event a login session of
// s writes, made at at, when batched; nil, nil otherwise.
func loginRows(t *testing.T, s store.Session, batched bool, at time.Time) (*store.RefreshToken, *store.AuditEvent) {
	t.Helper()
	if !batched {
		return nil, nil
	}
	return ptr(refreshFor(t, s)), auditFor(t, "user.login.succeeded", s.UserID, at)
}

// testLoginSessionDevice: CreateLoginSession reports what the user's
// earlier sessions, ended ones included, say of the new one's device
// (R5), on both of its paths.
func testLoginSessionDevice(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "device@example.com")
	other := newUser(t, st, "other@example.com")
	at := now()
	steps := []struct {
		name   string
		ip, ua string
		want   store.Device
	}{
		{"first login", "203.0.113.7", "laptop", store.Device{}},
		{"same device", "203.0.113.7", "laptop", store.Device{Known: true, SeenBefore: true}},
		{"another agent", "203.0.113.7", "phone", store.Device{SeenBefore: true}},
		{"another address", "198.51.100.1", "laptop", store.Device{SeenBefore: true}},
		{"the other agent again", "203.0.113.7", "phone", store.Device{Known: true, SeenBefore: true}},
	}
	// Another user's sessions say nothing of this user's devices.
	theirs := sessionFor(t, other.ID, at)
	theirs.IPAddress, theirs.UserAgent = "192.0.2.9", "tablet"
	createSession(t, st, theirs, nil)
	for i, c := range steps {
		s := sessionFor(t, u.ID, at.Add(time.Duration(i)*time.Minute))
		s.IPAddress, s.UserAgent = c.ip, c.ua
		rt, ev := loginRows(t, s, i%2 == 0, s.CreatedAt)
		got, err := st.CreateLoginSession(ctx, &s, rt, ev)
		if err != nil {
			t.Fatalf("%s: CreateLoginSession: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s (%s, %s): device %+v, want %+v", c.name, c.ip, c.ua, got, c.want)
		}
		if i == 0 {
			// An ended session still counts.
			if err := st.EndSession(ctx, s.ID, store.SessionLoggedOut, s.CreatedAt, nil); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
		}
	}
	s := sessionFor(t, other.ID, at)
	s.IPAddress, s.UserAgent = "203.0.113.7", "laptop"
	if got, err := st.CreateLoginSession(ctx, &s, nil, nil); err != nil || got != (store.Device{SeenBefore: true}) {
		t.Errorf("other user's login from this user's device: %+v, %v; want SeenBefore only", got, err)
	}
}

// testCreateLoginSessionErrors: a login session that cannot be written
// leaves nothing behind, the login record on the user included.
func testCreateLoginSessionErrors(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "alice@test.com")
	at := now()
	existing, existingRT := newSession(t, st, u.ID, at)
	// A failure after that login: a refused login must not reset it.
	if _, err := st.RecordLoginFailure(ctx, u.ID, 5, 30*time.Minute, at); err != nil {
		t.Fatalf("RecordLoginFailure: %v", err)
	}
	before := getUser(t, st, u.ID)

	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("refresh token and audit %v", batched), func(t *testing.T) {
			dup := sessionFor(t, u.ID, at.Add(time.Minute))
			dup.TokenHash = existing.TokenHash
			rt, ev := loginRows(t, dup, batched, at)
			_, err := st.CreateLoginSession(ctx, &dup, rt, ev)
			wantErr(t, err, store.ErrConflict, "CreateLoginSession with a taken token hash")
			_, _, err = st.GetSession(ctx, dup.ID)
			wantErr(t, err, store.ErrNotFound, "GetSession of the session refused for its token hash")
			if batched {
				requireNoAudit(t, st, ev)
				requireNoRotation(t, st, rt.TokenHash, at.Add(2*time.Minute), "refresh token of a refused login session")
			}
			if d := userDiff(getUser(t, st, u.ID), before); len(d) > 0 {
				t.Errorf("a refused login session changed the user:\n%s", d)
			}
		})
	}

	taken := sessionFor(t, u.ID, at.Add(time.Minute))
	takenRT := refreshFor(t, taken)
	takenRT.TokenHash = existingRT.TokenHash
	ev := auditFor(t, "user.login.succeeded", u.ID, at)
	_, err := st.CreateLoginSession(ctx, &taken, &takenRT, ev)
	wantErr(t, err, store.ErrConflict, "CreateLoginSession with a taken refresh token hash")
	_, _, err = st.GetSession(ctx, taken.ID)
	wantErr(t, err, store.ErrNotFound, "GetSession of the refused login session")
	requireNoAudit(t, st, ev)
	if d := userDiff(getUser(t, st, u.ID), before); len(d) > 0 {
		t.Errorf("a login session refused for its refresh token changed the user:\n%s", d)
	}

	for _, batched := range []bool{true, false} {
		orphan := sessionFor(t, newID(t), at)
		rt, ev := loginRows(t, orphan, batched, at)
		_, err := st.CreateLoginSession(ctx, &orphan, rt, ev)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("CreateLoginSession for an unknown user (refresh token and audit %v)", batched))
		if batched {
			requireNoAudit(t, st, ev)
			requireNoRotation(t, st, rt.TokenHash, at.Add(time.Minute), "refresh token of a login session of an unknown user")
		}
	}
}

// testRehashPassword: the hash is replaced only while it is still the one
// the login verified; a password changed meanwhile stays.
func testRehashPassword(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "rehash@example.com")
	at := now()
	ok, err := st.RehashPassword(ctx, u.ID, testPasswordHash, newPasswordHash, at)
	if err != nil || !ok {
		t.Fatalf("RehashPassword of the current hash = %v, %v; want true", ok, err)
	}
	if got := getUser(t, st, u.ID).PasswordHash; got != newPasswordHash {
		t.Fatalf("hash after rehash = %q, want the new one", got)
	}
	// A second rehash from the old hash lost a race with a change.
	ok, err = st.RehashPassword(ctx, u.ID, testPasswordHash, "$argon2id$stale", at)
	if err != nil || ok {
		t.Fatalf("RehashPassword of a replaced hash = %v, %v; want false, nil", ok, err)
	}
	if got := getUser(t, st, u.ID).PasswordHash; got != newPasswordHash {
		t.Fatalf("a stale rehash overwrote the hash: %q", got)
	}
}

func testUnlockUser(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "john@example.com")
	at := now()
	for range 2 {
		if _, err := st.RecordLoginFailure(ctx, u.ID, 2, 30*time.Minute, at); err != nil {
			t.Fatalf("RecordLoginFailure: %v", err)
		}
	}
	ev := auditFor(t, "user.unlocked", u.ID, at.Add(time.Minute))
	if err := st.UnlockUser(ctx, u.ID, at.Add(time.Minute), ev); err != nil {
		t.Fatalf("UnlockUser: %v", err)
	}
	got := getUser(t, st, u.ID)
	if got.FailedLoginAttempts != 0 || got.LockedUntil != nil {
		t.Errorf("after UnlockUser: FailedLoginAttempts = %d, LockedUntil = %s; want 0, nil",
			got.FailedLoginAttempts, fmtTimePtr(got.LockedUntil))
	}
	if got.PasswordHash != u.PasswordHash || got.LastLoginAt != nil {
		t.Errorf("UnlockUser changed the password hash or last login")
	}
	requireAudit(t, st, ev)
}

func testSetPassword(t *testing.T, st store.Store) {
	cases := []struct {
		name string
		keep int // index of the session to keep, -1 for none
	}{
		{"keep current session", 1},
		{"revoke every session", -1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			at := now()
			u := newUser(t, st, fmt.Sprintf("password%d@example.com", i))
			other := newUser(t, st, fmt.Sprintf("bystander%d@example.com", i))
			var sessions []store.Session
			var tokens []store.RefreshToken
			for range 3 {
				s, rt := newSession(t, st, u.ID, at)
				sessions, tokens = append(sessions, s), append(tokens, rt)
			}
			otherSession, _ := newSession(t, st, other.ID, at)
			keepID := ""
			if c.keep >= 0 {
				keepID = sessions[c.keep].ID
			}

			changeAt := at.Add(time.Minute)
			ev := auditFor(t, "password.changed", u.ID, changeAt)
			if err := st.SetPassword(ctx, u.ID, newPasswordHash, keepID, changeAt, ev); err != nil {
				t.Fatalf("SetPassword: %v", err)
			}
			if got := getUser(t, st, u.ID).PasswordHash; got != newPasswordHash {
				t.Errorf("PasswordHash = %q, want the new hash", got)
			}
			requireAudit(t, st, ev)

			// P7: every other session and its refresh tokens die at once.
			for j, s := range sessions {
				if j == c.keep {
					requireStatus(t, st, s.ID, store.SessionActive, at)
					requireRotation(t, st, tokens[j].TokenHash, s.ID, changeAt.Add(time.Second))
					continue
				}
				requireStatus(t, st, s.ID, store.SessionRevoked, changeAt)
				requireNoRotation(t, st, tokens[j].TokenHash, changeAt.Add(time.Second),
					fmt.Sprintf("refresh token of session %d after SetPassword", j))
			}
			requireStatus(t, st, otherSession.ID, store.SessionActive, at)
		})
	}
}
