package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Run runs every conformance test against fresh stores from open. open must
// return a migrated, empty-of-users store (roles/permissions seeded: roles
// admin, editor, viewer; permissions users.read users.create users.update
// users.delete posts.read posts.create posts.update posts.delete plus admin
// ones; editor has users.read, posts.read, posts.create, posts.update;
// viewer has users.read, posts.read; admin has all) that is private to the
// calling test, and register its own cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	for _, tc := range subtests() {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			if st == nil {
				t.Fatal("open returned a nil store")
			}
			tc.run(t, st)
		})
	}
}

type subtest struct {
	name string
	run  func(t *testing.T, st store.Store)
}

func subtests() []subtest {
	return []subtest{
		{"Ping", testPing},

		// Users.
		{"CreateUserRoundTrip", testCreateUserRoundTrip},
		{"CreateUserConflict", testCreateUserConflict},
		{"CreateUserUnknownRole", testCreateUserUnknownRole},
		{"CreateUserConcurrentSameEmail", testCreateUserConcurrentSameEmail},
		{"CreateUserWritesAudit", testCreateUserWritesAudit},
		{"UnknownUserIsNotFound", testUnknownUserIsNotFound},
		{"ListUsersQuery", testListUsersQuery},
		{"ListUsersPagination", testListUsersPagination},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserErrors", testUpdateUserErrors},
		{"DeleteUser", testDeleteUser},

		// Account state.
		{"SetUserStatus", testSetUserStatus},
		{"LoginFailureLockout", testLoginFailureLockout},
		{"LoginFailureConcurrent", testLoginFailureConcurrent},
		{"CreateLoginSession", testCreateLoginSession},
		{"CreateLoginSessionErrors", testCreateLoginSessionErrors},
		{"LoginSessionDevice", testLoginSessionDevice},
		{"RehashPassword", testRehashPassword},
		{"UnlockUser", testUnlockUser},
		{"SetPassword", testSetPassword},

		// Roles.
		{"SetUserRoles", testSetUserRoles},
		{"CountUsersWithRole", testCountUsersWithRole},
		{"SeededRoles", testSeededRoles},
		{"SeededPermissions", testSeededPermissions},

		// Sessions.
		{"SessionRoundTrip", testSessionRoundTrip},
		{"TouchSession", testTouchSession},
		{"ListActiveSessions", testListActiveSessions},
		{"EndSession", testEndSession},
		{"RevokeUserSessions", testRevokeUserSessions},
		{"ExpireSessions", testExpireSessions},
		{"ExpireSessionsLimit", testExpireSessionsLimit},
		{"ExpireSessionsPurge", testExpireSessionsPurge},
		{"EndedSessions", testEndedSessions},

		// Refresh tokens.
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateRefreshTokenReuse", testRotateRefreshTokenReuse},
		{"RotateRefreshTokenRejects", testRotateRefreshTokenRejects},
		{"RotateRefreshTokenConcurrent", testRotateRefreshTokenConcurrent},

		// Audit.
		{"AuditRoundTrip", testAuditRoundTrip},
		{"ListAudit", testListAudit},

		// Signing keys.
		{"SigningKeys", testSigningKeys},

		// One-time tokens.
		{"OneTimeTokenConsume", testOneTimeTokenConsume},
		{"OneTimeTokenConcurrent", testOneTimeTokenConcurrent},
		{"VerifyEmail", testVerifyEmail},
		{"ResetPassword", testResetPassword},
		{"CreateUserFromInvitation", testCreateUserFromInvitation},

		// Authorization data.
		{"RoleCRUD", testRoleCRUD},
		{"PermissionsAndDirectGrants", testPermissionsAndDirectGrants},
		{"Relations", testRelations},
		{"Policies", testPolicies},
	}
}

func testPing(t *testing.T, st store.Store) {
	ctx := t.Context()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// open returns a migrated store; migrating again must be a no-op.
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a migrated store: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping after Migrate: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Fixtures. Each makes one thing; the ones named new* also store it.

// testPasswordHash is a well-formed argon2id PHC string; the store treats
// hashes as opaque text.
const testPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c3RvcmV0ZXN0c2FsdA$c3RvcmV0ZXN0aGFzaHN0b3JldGVzdGhhc2g"

// now is the suite's clock: UTC, millisecond precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("uuid.NewV7: %v", err)
	}
	return id.String()
}

// newTokenHash returns the stored form of a fresh opaque token.
func newTokenHash() string { return secret.Digest(secret.MustToken().Reveal()) }

func ptr[T any](v T) *T { return &v }

// userFor returns an active user with the given email; it does not store it.
func userFor(t *testing.T, email string, at time.Time) store.User {
	t.Helper()
	email = strings.TrimSpace(email)
	return store.User{
		ID:              newID(t),
		Email:           email,
		EmailNormalized: strings.ToLower(email),
		Name:            "Test Person",
		PasswordHash:    testPasswordHash,
		Status:          store.UserActive,
		CreatedAt:       at,
		UpdatedAt:       at,
	}
}

// createUser stores u with roles and returns it as read back by GetUser.
func createUser(t *testing.T, st store.Store, u store.User, roles ...string) store.User {
	t.Helper()
	if err := st.CreateUser(t.Context(), &u, roles, nil); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Email, err)
	}
	got, err := st.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("GetUser(%s) after CreateUser: %v", u.Email, err)
	}
	return got
}

// newUser stores an active user with the given roles (viewer when none,
// the default role of U13) and returns it as read back.
func newUser(t *testing.T, st store.Store, email string, roles ...string) store.User {
	t.Helper()
	if len(roles) == 0 {
		roles = []string{"viewer"}
	}
	return createUser(t, st, userFor(t, email, now()), roles...)
}

// sessionFor returns an active session of userID created at at, with a 24 h
// absolute and a 2 h idle expiry; it does not store it.
func sessionFor(t *testing.T, userID string, at time.Time) store.Session {
	t.Helper()
	return store.Session{
		ID:            newID(t),
		UserID:        userID,
		TokenHash:     newTokenHash(),
		Status:        store.SessionActive,
		IPAddress:     "203.0.113.7",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) storetest",
		AMR:           []string{"pwd"},
		CreatedAt:     at,
		UpdatedAt:     at,
		LastSeenAt:    at,
		ExpiresAt:     at.Add(24 * time.Hour),
		IdleExpiresAt: at.Add(2 * time.Hour),
	}
}

// refreshFor returns the first refresh token of s, valid for 30 days.
func refreshFor(t *testing.T, s store.Session) store.RefreshToken {
	t.Helper()
	return store.RefreshToken{
		ID:        newID(t),
		SessionID: s.ID,
		UserID:    s.UserID,
		TokenHash: newTokenHash(),
		CreatedAt: s.CreatedAt,
		ExpiresAt: s.CreatedAt.Add(30 * 24 * time.Hour),
	}
}

// nextRefresh returns the token a rotation at at stores. SessionID and
// UserID are left empty on purpose: the caller of RotateRefreshToken holds
// only the presented token, so the store must bind next to the session of
// the old one ("stores next in the same session").
func nextRefresh(t *testing.T, at time.Time) store.RefreshToken {
	t.Helper()
	return store.RefreshToken{
		ID:        newID(t),
		TokenHash: newTokenHash(),
		CreatedAt: at,
		ExpiresAt: at.Add(30 * 24 * time.Hour),
	}
}

// createSession stores s, a login's session, with rt (which may be nil).
func createSession(t *testing.T, st store.Store, s store.Session, rt *store.RefreshToken) store.Session {
	t.Helper()
	if _, err := st.CreateLoginSession(t.Context(), &s, rt, nil); err != nil {
		t.Fatalf("CreateLoginSession: %v", err)
	}
	return s
}

// newSession stores an active session of userID created at at, with its
// first refresh token.
func newSession(t *testing.T, st store.Store, userID string, at time.Time) (store.Session, store.RefreshToken) {
	t.Helper()
	s := sessionFor(t, userID, at)
	rt := refreshFor(t, s)
	return createSession(t, st, s, &rt), rt
}

// auditFor returns an event of typ about userID at at; it does not store it.
func auditFor(t *testing.T, typ, userID string, at time.Time) *store.AuditEvent {
	t.Helper()
	return &store.AuditEvent{
		ID:        newID(t),
		CreatedAt: at,
		Type:      typ,
		UserID:    userID,
		Result:    "success",
		IPAddress: "198.51.100.20",
		UserAgent: "storetest/1.0",
		Details:   map[string]any{"via": "storetest", "n": 1},
	}
}

// ---------------------------------------------------------------------------
// Reading back.

func getSession(t *testing.T, st store.Store, id string) store.Session {
	t.Helper()
	s, _, err := st.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

func getUser(t *testing.T, st store.Store, id string) store.User {
	t.Helper()
	u, err := st.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u
}

// findAudit returns the event with id among those q selects (q.Limit is
// raised to 1000), or false.
func findAudit(t *testing.T, st store.Store, q store.AuditQuery, id string) (store.AuditEvent, bool) {
	t.Helper()
	q.Limit = 1000
	evs, err := st.ListAudit(t.Context(), q)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", q, err)
	}
	for _, ev := range evs {
		if ev.ID == id {
			return ev, true
		}
	}
	return store.AuditEvent{}, false
}

// requireAudit fails unless ev was written and reads back unchanged.
func requireAudit(t *testing.T, st store.Store, ev *store.AuditEvent) {
	t.Helper()
	got, ok := findAudit(t, st, store.AuditQuery{UserID: ev.UserID, Type: ev.Type}, ev.ID)
	if !ok {
		t.Errorf("audit event %s (%s) was not written", ev.ID, ev.Type)
		return
	}
	if d := auditDiff(got, *ev); len(d) > 0 {
		t.Errorf("audit event %s differs:\n%s", ev.Type, d)
	}
}

// requireNoAudit fails if ev was written: the write it belonged to failed.
func requireNoAudit(t *testing.T, st store.Store, ev *store.AuditEvent) {
	t.Helper()
	if _, ok := findAudit(t, st, store.AuditQuery{Type: ev.Type}, ev.ID); ok {
		t.Errorf("audit event %s (%s) was written although its change failed", ev.ID, ev.Type)
	}
}

// requireStatus fails unless the session has status; for revoked and
// logged_out it also wants the matching timestamp near at.
func requireStatus(t *testing.T, st store.Store, id, status string, at time.Time) {
	t.Helper()
	s := getSession(t, st, id)
	if s.Status != status {
		t.Errorf("session %s: status = %q, want %q", id, s.Status, status)
	}
	switch status {
	case store.SessionRevoked:
		if s.RevokedAt == nil || !sameTime(*s.RevokedAt, at) {
			t.Errorf("session %s: RevokedAt = %v, want %v", id, fmtTimePtr(s.RevokedAt), at)
		}
	case store.SessionLoggedOut:
		if s.LoggedOutAt == nil || !sameTime(*s.LoggedOutAt, at) {
			t.Errorf("session %s: LoggedOutAt = %v, want %v", id, fmtTimePtr(s.LoggedOutAt), at)
		}
	}
}

// requireNoRotation fails unless presenting hash at at is refused with
// ErrNotFound or ErrRefreshReused.
func requireNoRotation(t *testing.T, st store.Store, hash string, at time.Time, why string) {
	t.Helper()
	next := nextRefresh(t, at)
	_, _, err := st.RotateRefreshToken(t.Context(), hash, &next, at)
	if err == nil {
		t.Errorf("%s: RotateRefreshToken succeeded, want ErrNotFound or ErrRefreshReused", why)
		return
	}
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrRefreshReused) {
		t.Errorf("%s: RotateRefreshToken err = %v, want ErrNotFound or ErrRefreshReused", why, err)
	}
}

// requireRotation fails unless presenting hash at at succeeds for the
// session sessionID; it returns the new token.
func requireRotation(t *testing.T, st store.Store, hash, sessionID string, at time.Time) store.RefreshToken {
	t.Helper()
	next := nextRefresh(t, at)
	s, _, err := st.RotateRefreshToken(t.Context(), hash, &next, at)
	if err != nil {
		t.Fatalf("RotateRefreshToken of session %s: %v", sessionID, err)
	}
	if s.ID != sessionID {
		t.Errorf("RotateRefreshToken returned session %s, want %s", s.ID, sessionID)
	}
	return next
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// ---------------------------------------------------------------------------
// Comparison. Each *Diff returns one line per differing field.

type diff []string

func (d diff) String() string { return "  " + strings.Join(d, "\n  ") }

func (d *diff) add(field string, got, want any) {
	*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
}

func (d *diff) str(field, got, want string) {
	if got != want {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

func (d *diff) time(field string, got, want time.Time) {
	if !sameTime(got, want) {
		d.add(field, got, want)
	}
}

func (d *diff) timePtr(field string, got, want *time.Time) {
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || !sameTime(*got, *want):
		d.add(field, fmtTimePtr(got), fmtTimePtr(want))
	}
}

func (d *diff) strPtr(field string, got, want *string) {
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || *got != *want:
		d.add(field, fmtStrPtr(got), fmtStrPtr(want))
	}
}

// strs compares in order; nil and empty are equal.
func (d *diff) strs(field string, got, want []string) {
	if len(got) != len(want) || !slices.Equal(got, want) {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

// json compares maps by their JSON encoding, so 3, int64(3), float64(3)
// and json.Number("3") are equal, as are nil and empty maps.
func (d *diff) json(field string, got, want map[string]any) {
	if len(got) == 0 && len(want) == 0 {
		return
	}
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
		d.add(field, string(g), string(w))
	}
}

// sameTime reports whether a and b are within a millisecond; the location
// does not matter.
func sameTime(a, b time.Time) bool {
	delta := a.Sub(b)
	return delta <= time.Millisecond && delta >= -time.Millisecond
}

func fmtTimePtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.String()
}

func fmtStrPtr(p *string) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", *p)
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// userDiff compares every field; want.Roles must already be sorted, since
// the store returns roles sorted.
func userDiff(got, want store.User) diff {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Email", got.Email, want.Email)
	d.str("EmailNormalized", got.EmailNormalized, want.EmailNormalized)
	d.strPtr("Username", got.Username, want.Username)
	d.str("Name", got.Name, want.Name)
	d.str("FirstName", got.FirstName, want.FirstName)
	d.str("LastName", got.LastName, want.LastName)
	d.str("PasswordHash", got.PasswordHash, want.PasswordHash)
	if got.EmailVerified != want.EmailVerified {
		d.add("EmailVerified", got.EmailVerified, want.EmailVerified)
	}
	d.timePtr("EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt)
	d.str("Status", got.Status, want.Status)
	if got.FailedLoginAttempts != want.FailedLoginAttempts {
		d.add("FailedLoginAttempts", got.FailedLoginAttempts, want.FailedLoginAttempts)
	}
	d.timePtr("LockedUntil", got.LockedUntil, want.LockedUntil)
	d.timePtr("LastLoginAt", got.LastLoginAt, want.LastLoginAt)
	d.str("LastLoginIP", got.LastLoginIP, want.LastLoginIP)
	d.json("Attributes", got.Attributes, want.Attributes)
	d.strs("Roles", got.Roles, want.Roles)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func sessionDiff(got, want store.Session) diff {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("TokenHash", got.TokenHash, want.TokenHash)
	d.str("Status", got.Status, want.Status)
	d.str("IPAddress", got.IPAddress, want.IPAddress)
	d.str("UserAgent", got.UserAgent, want.UserAgent)
	d.strs("AMR", got.AMR, want.AMR)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.time("LastSeenAt", got.LastSeenAt, want.LastSeenAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	d.timePtr("LoggedOutAt", got.LoggedOutAt, want.LoggedOutAt)
	d.timePtr("RevokedAt", got.RevokedAt, want.RevokedAt)
	return d
}

func auditDiff(got, want store.AuditEvent) diff {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.str("Type", got.Type, want.Type)
	d.str("ActorID", got.ActorID, want.ActorID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("Result", got.Result, want.Result)
	d.str("IPAddress", got.IPAddress, want.IPAddress)
	d.str("UserAgent", got.UserAgent, want.UserAgent)
	d.json("Details", got.Details, want.Details)
	return d
}

func signingKeyDiff(got, want store.SigningKey) diff {
	var d diff
	d.str("KID", got.KID, want.KID)
	d.str("Algorithm", got.Algorithm, want.Algorithm)
	if !bytes.Equal(got.PrivateKey, want.PrivateKey) {
		d.add("PrivateKey", fmt.Sprintf("%x", got.PrivateKey), fmt.Sprintf("%x", want.PrivateKey))
	}
	d.str("PublicJWK", got.PublicJWK, want.PublicJWK)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.timePtr("RetiredAt", got.RetiredAt, want.RetiredAt)
	return d
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func userID(u store.User) string         { return u.ID }
func sessionID(s store.Session) string   { return s.ID }
func auditID(ev store.AuditEvent) string { return ev.ID }
