package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Bench measures the store work of the hot paths against fresh stores from
// open: a password login (look the user up, then create the session with
// its refresh token, audit event, login record and device query) and a
// session check that misses the in-process cache. open has the contract of
// Run's.
//
//	go test -run '^$' -bench Store ./internal/store/...
func Bench(b *testing.B, open func(tb testing.TB) store.Store) {
	b.Run("Login", func(b *testing.B) {
		st := open(b)
		users := benchUsers(b, st, 20)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			u, err := st.GetUserByEmail(ctx, users[i%len(users)].EmailNormalized)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			sess, rt := benchSession(u.ID, now)
			ev := &store.AuditEvent{Type: "user.login.succeeded", Result: "success", ActorID: u.ID, UserID: u.ID,
				IPAddress: "192.0.2.1", UserAgent: "bench/1", CreatedAt: now, Details: map[string]any{"amr": []string{"pwd"}}}
			if _, err := st.CreateLoginSession(ctx, &sess, &rt, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SessionByHash", func(b *testing.B) {
		st := open(b)
		users := benchUsers(b, st, 20)
		ctx := context.Background()
		hashes := make([]string, len(users))
		for i, u := range users {
			sess, rt := benchSession(u.ID, time.Now())
			if _, err := st.CreateLoginSession(ctx, &sess, &rt, nil); err != nil {
				b.Fatal(err)
			}
			hashes[i] = sess.TokenHash
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, _, err := st.GetSessionByTokenHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchUsers(b *testing.B, st store.Store, n int) []store.User {
	b.Helper()
	users := make([]store.User, n)
	now := time.Now()
	for i := range users {
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatal(err)
		}
		email := fmt.Sprintf("bench%d@example.com", i)
		users[i] = store.User{ID: id.String(), Email: email, EmailNormalized: email, Name: "Bench",
			PasswordHash: testPasswordHash, Status: store.UserActive, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(context.Background(), &users[i], []string{"viewer"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	return users
}

func benchSession(userID string, now time.Time) (store.Session, store.RefreshToken) {
	sess := store.Session{UserID: userID, TokenHash: newTokenHash(), Status: store.SessionActive,
		IPAddress: "192.0.2.1", UserAgent: "bench/1", AMR: []string{"pwd"},
		CreatedAt: now, UpdatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(2 * time.Hour)}
	rt := store.RefreshToken{TokenHash: secret.Digest(secret.MustToken().Reveal()), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	return sess, rt
}
