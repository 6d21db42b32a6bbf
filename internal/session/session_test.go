package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func setup(t *testing.T, o session.Options) (*session.Service, store.Store, store.User, *clock) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &store.User{Email: "john@example.com", EmailNormalized: "john@example.com"}
	if err := st.CreateUser(context.Background(), u, []string{"viewer"}, nil); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	o.Now = c.now
	return session.New(st, o), st, *u, c
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	ctx := context.Background()
	svc, _, u, c := setup(t, session.Options{Lifetime: 3 * time.Hour, IdleTimeout: time.Hour, CacheTTL: time.Second, TouchEvery: time.Minute})
	iss, err := svc.Create(ctx, u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	// Activity every 50 minutes keeps the session alive past the idle
	// timeout (S11, sliding renewal)...
	for i := 0; i < 3; i++ {
		c.add(50 * time.Minute)
		if _, err := svc.Authenticate(ctx, tok); err != nil {
			t.Fatalf("after %d×50m of activity: %v", i+1, err)
		}
	}
	// ...but not past the absolute lifetime (S10).
	c.add(31 * time.Minute)
	if _, err := svc.Authenticate(ctx, tok); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("past the absolute lifetime: %v", err)
	}
	// A session left idle expires.
	iss2, _ := svc.Create(ctx, u, nil)
	c.add(61 * time.Minute)
	if _, err := svc.Authenticate(ctx, iss2.Token.Reveal()); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("idle session: %v", err)
	}
	// The janitor marks them expired (S21).
	n, err := svc.Sweep(ctx)
	if err != nil || n < 2 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	ss, _ := svc.List(ctx, u.ID)
	if len(ss) != 0 {
		t.Fatalf("%d active sessions after expiry", len(ss))
	}
}

func TestCacheSeesOtherProcessesWithinTTL(t *testing.T) {
	ctx := context.Background()
	svc, st, u, c := setup(t, session.Options{CacheTTL: 5 * time.Second})
	iss, _ := svc.Create(ctx, u, nil)
	if _, err := svc.Authenticate(ctx, iss.Token.Reveal()); err != nil {
		t.Fatal(err)
	}
	// Another process (a CLI, another replica) revokes in the store.
	if _, err := st.RevokeUserSessions(ctx, u.ID, "", c.now(), nil); err != nil {
		t.Fatal(err)
	}
	c.add(6 * time.Second)
	if _, err := svc.Authenticate(ctx, iss.Token.Reveal()); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("revocation by another process not seen after the cache TTL: %v", err)
	}
}

func TestInvalidateUserIsImmediate(t *testing.T) {
	ctx := context.Background()
	svc, st, u, c := setup(t, session.Options{CacheTTL: time.Hour})
	iss, _ := svc.Create(ctx, u, nil)
	if err := st.SetUserStatus(ctx, u.ID, store.UserSuspended, c.now(), nil); err != nil {
		t.Fatal(err)
	}
	svc.InvalidateUser(u.ID)
	if _, err := svc.ByID(ctx, iss.Session.ID); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("suspended user's session after invalidation: %v", err)
	}
}

func TestStoreFailureFailsClosed(t *testing.T) {
	ctx := context.Background()
	svc, st, u, _ := setup(t, session.Options{})
	iss, _ := svc.Create(ctx, u, nil)
	svc.InvalidateUser(u.ID)
	st.Close()
	if _, err := svc.Authenticate(ctx, iss.Token.Reveal()); err == nil {
		t.Fatal("a store error must not authenticate (S13)")
	}
}

// pausingStore lets a test run code between a session read and its use.
type pausingStore struct {
	store.Store
	during func()
}

func (p *pausingStore) GetSessionByTokenHash(ctx context.Context, h string) (store.Session, store.User, error) {
	s, u, err := p.Store.GetSessionByTokenHash(ctx, h)
	if p.during != nil {
		f := p.during
		p.during = nil
		f()
	}
	return s, u, err
}

// TestRevocationDuringReadIsNotUndone: a suspension that lands while a
// check is reading the store must not be overwritten in the cache by
// that read's stale result.
func TestRevocationDuringReadIsNotUndone(t *testing.T) {
	ctx := context.Background()
	_, st, u, c := setup(t, session.Options{})
	ps := &pausingStore{Store: st}
	svc := session.New(ps, session.Options{Now: c.now, CacheTTL: time.Hour})
	iss, err := svc.Create(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.InvalidateUser(u.ID) // force the next check to read the store
	ps.during = func() {
		if err := st.SetUserStatus(ctx, u.ID, store.UserSuspended, c.now(), nil); err != nil {
			t.Fatal(err)
		}
		svc.InvalidateUser(u.ID)
	}
	// This read began before the suspension; it may answer as before,
	// but must not leave the stale result cached.
	_, _ = svc.Authenticate(ctx, iss.Token.Reveal())
	if _, err := svc.Authenticate(ctx, iss.Token.Reveal()); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("suspended user still authenticated from a stale cache entry: %v", err)
	}
}
