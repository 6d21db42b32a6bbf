package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func newOneTime(t *testing.T, st store.Store, typ, userID, email string, ttl time.Duration, meta map[string]any) string {
	t.Helper()
	hash := newTokenHash()
	at := now()
	tok := &store.OneTimeToken{Type: typ, TokenHash: hash, UserID: userID, Email: email, Metadata: meta, CreatedAt: at, ExpiresAt: at.Add(ttl)}
	if err := st.CreateOneTimeToken(t.Context(), tok, nil); err != nil {
		t.Fatalf("CreateOneTimeToken(%s): %v", typ, err)
	}
	if tok.ID == "" {
		t.Fatal("CreateOneTimeToken did not set an id")
	}
	return hash
}

func testOneTimeTokenConsume(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "ott@example.com")
	hash := newOneTime(t, st, store.TokenMagicLink, u.ID, u.EmailNormalized, 15*time.Minute, map[string]any{"k": "v"})
	_, err := st.ConsumeOneTimeToken(ctx, store.TokenPasswordReset, hash, now(), nil)
	wantErr(t, err, store.ErrNotFound, "consume with the wrong type")
	ev := auditFor(t, "magic_link.used", "", now())
	got, err := st.ConsumeOneTimeToken(ctx, store.TokenMagicLink, hash, now(), ev)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	if got.UserID != u.ID || got.Email != u.EmailNormalized || got.Metadata["k"] != "v" || got.UsedAt == nil {
		t.Fatalf("consumed token %+v", got)
	}
	requireAudit(t, st, &store.AuditEvent{ID: ev.ID, Type: ev.Type, UserID: u.ID, Result: ev.Result, IPAddress: ev.IPAddress, UserAgent: ev.UserAgent, Details: ev.Details, CreatedAt: ev.CreatedAt})
	_, err = st.ConsumeOneTimeToken(ctx, store.TokenMagicLink, hash, now(), nil)
	wantErr(t, err, store.ErrNotFound, "second use (O9)")
	expired := newOneTime(t, st, store.TokenMagicLink, u.ID, u.EmailNormalized, time.Millisecond, nil)
	_, err = st.ConsumeOneTimeToken(ctx, store.TokenMagicLink, expired, now().Add(time.Second), nil)
	wantErr(t, err, store.ErrNotFound, "expired token")
	_, err = st.ConsumeOneTimeToken(ctx, store.TokenMagicLink, newTokenHash(), now(), nil)
	wantErr(t, err, store.ErrNotFound, "unknown token")
}

func testOneTimeTokenConcurrent(t *testing.T, st store.Store) {
	u := newUser(t, st, "race@example.com")
	hash := newOneTime(t, st, store.TokenMagicLink, u.ID, u.EmailNormalized, time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.ConsumeOneTimeToken(t.Context(), store.TokenMagicLink, hash, now(), nil); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else {
				wantErr(t, err, store.ErrNotFound, "losing redemption")
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent redemptions won, want exactly 1", wins)
	}
}

func testVerifyEmail(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "verify@example.com")
	hash := newOneTime(t, st, store.TokenEmailVerification, u.ID, u.EmailNormalized, time.Hour, nil)
	got, err := st.VerifyEmail(ctx, hash, now(), nil)
	if err != nil || !got.EmailVerified || got.EmailVerifiedAt == nil {
		t.Fatalf("VerifyEmail: %+v %v", got, err)
	}
	_, err = st.VerifyEmail(ctx, hash, now(), nil)
	wantErr(t, err, store.ErrNotFound, "second verification")
	// A token for an address the user no longer has does nothing.
	v := newUser(t, st, "moving@example.com")
	hash = newOneTime(t, st, store.TokenEmailVerification, v.ID, v.EmailNormalized, time.Hour, nil)
	if _, err := st.UpdateUser(ctx, v.ID, store.UserPatch{Email: ptr("moved@example.com"), EmailNorm: ptr("moved@example.com")}, now(), nil); err != nil {
		t.Fatal(err)
	}
	_, err = st.VerifyEmail(ctx, hash, now(), nil)
	wantErr(t, err, store.ErrNotFound, "stale address")
	if getUser(t, st, v.ID).EmailVerified {
		t.Fatal("stale token verified the new address")
	}
	if err := st.MarkEmailVerified(ctx, v.ID, now(), nil); err != nil || !getUser(t, st, v.ID).EmailVerified {
		t.Fatalf("MarkEmailVerified: %v", err)
	}
}

func testResetPassword(t *testing.T, st store.Store) {
	ctx := t.Context()
	u := newUser(t, st, "reset@example.com")
	s1, rt1 := newSession(t, st, u.ID, now())
	first := newOneTime(t, st, store.TokenPasswordReset, u.ID, u.EmailNormalized, time.Hour, nil)
	second := newOneTime(t, st, store.TokenPasswordReset, u.ID, u.EmailNormalized, time.Hour, nil)
	at := now()
	got, revoked, err := st.ResetPassword(ctx, second, "new-hash", at, nil)
	if err != nil || got.PasswordHash != "new-hash" {
		t.Fatalf("ResetPassword: %v", err)
	}
	if len(revoked) != 1 || revoked[0] != s1.ID {
		t.Fatalf("revoked %v, want [%s]", revoked, s1.ID)
	}
	requireStatus(t, st, s1.ID, store.SessionRevoked, at)
	requireNoRotation(t, st, rt1.TokenHash, now(), "refresh token after a reset")
	_, _, err = st.ResetPassword(ctx, first, "other-hash", now(), nil)
	wantErr(t, err, store.ErrNotFound, "the other reset token after a completed reset (O14)")
	if getUser(t, st, u.ID).PasswordHash != "new-hash" {
		t.Fatal("password changed by a spent token")
	}
}

func testCreateUserFromInvitation(t *testing.T, st store.Store) {
	ctx := t.Context()
	hash := newOneTime(t, st, store.TokenInvitation, "", "invitee@example.com", 7*24*time.Hour, map[string]any{"roles": []any{"editor"}, "team": "blue"})
	wrong := userFor(t, "someone.else@example.com", now())
	wantErr(t, st.CreateUserFromInvitation(ctx, hash, &wrong, now(), nil), store.ErrNotFound, "invitation for another address")
	hash = newOneTime(t, st, store.TokenInvitation, "", "invitee@example.com", 7*24*time.Hour, map[string]any{"roles": []any{"editor"}})
	u := userFor(t, "invitee@example.com", now())
	if err := st.CreateUserFromInvitation(ctx, hash, &u, now(), nil); err != nil {
		t.Fatalf("CreateUserFromInvitation: %v", err)
	}
	got := getUser(t, st, u.ID)
	if !got.EmailVerified || len(got.Roles) != 1 || got.Roles[0] != "editor" {
		t.Fatalf("invited user %+v", got)
	}
	dup := userFor(t, "invitee@example.com", now())
	wantErr(t, st.CreateUserFromInvitation(ctx, hash, &dup, now(), nil), store.ErrNotFound, "invitation reuse")
}
