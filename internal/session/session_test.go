package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
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

// TestIPChangeIsASignalNotALogout (S18): a session used from another
// address keeps working, and the change is audited with both addresses
// when the use is recorded (at most once per TouchEvery); a use from the
// login address is not.
func TestIPChangeIsASignalNotALogout(t *testing.T) {
	svc, st, u, c := setup(t, session.Options{CacheTTL: time.Hour, TouchEvery: time.Minute})
	from := func(ip string) context.Context {
		return audit.WithMeta(context.Background(), audit.Meta{IP: ip, UserAgent: "test"})
	}
	iss, err := svc.Create(from("203.0.113.7"), u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	changes := func() []store.AuditEvent {
		t.Helper()
		evs, err := st.ListAudit(context.Background(), store.AuditQuery{Type: audit.SessionIPChanged, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	c.add(2 * time.Minute)
	if _, err := svc.Authenticate(from("203.0.113.7"), tok); err != nil {
		t.Fatalf("use from the login address: %v", err)
	}
	if n := len(changes()); n != 0 {
		t.Fatalf("%d ip_changed events for a use from the login address", n)
	}
	c.add(2 * time.Minute)
	p, err := svc.Authenticate(from("198.51.100.9"), tok)
	if err != nil || p.Session.ID != iss.Session.ID {
		t.Fatalf("use from another address: %v (a change must not log out)", err)
	}
	evs := changes()
	if len(evs) != 1 {
		t.Fatalf("%d ip_changed events after a use from another address, want 1", len(evs))
	}
	ev := evs[0]
	if ev.UserID != u.ID || ev.IPAddress != "198.51.100.9" || ev.Details["from"] != "203.0.113.7" || ev.Details["to"] != "198.51.100.9" || ev.Details["session_id"] != iss.Session.ID {
		t.Fatalf("ip_changed event %+v", ev)
	}
}

// TestCreateRecordsTheLogin (L14, R5): a session's creation records the
// login on its user and says what the user's earlier sessions know of
// the device.
func TestCreateRecordsTheLogin(t *testing.T) {
	svc, st, u, c := setup(t, session.Options{})
	ctx := audit.WithMeta(context.Background(), audit.Meta{IP: "203.0.113.7", UserAgent: "laptop"})
	if _, err := st.RecordLoginFailure(ctx, u.ID, 5, time.Hour, c.now()); err != nil {
		t.Fatal(err)
	}
	first, err := svc.Create(ctx, u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Device != (store.Device{}) {
		t.Fatalf("first login's device %+v, want neither known nor seen before", first.Device)
	}
	got, err := st.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FailedLoginAttempts != 0 || got.LastLoginAt == nil || !got.LastLoginAt.Equal(first.Session.CreatedAt) || got.LastLoginIP != "203.0.113.7" {
		t.Fatalf("user after login: failures %d, last login %v from %q", got.FailedLoginAttempts, got.LastLoginAt, got.LastLoginIP)
	}
	if first.User.LastLoginAt == nil || first.User.FailedLoginAttempts != 0 {
		t.Fatalf("the issued principal's user does not show the login: %+v", first.User)
	}
	c.add(time.Minute)
	again, err := svc.Create(ctx, u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Device != (store.Device{Known: true, SeenBefore: true}) {
		t.Fatalf("second login from the same device: %+v", again.Device)
	}
	other := audit.WithMeta(context.Background(), audit.Meta{IP: "203.0.113.7", UserAgent: "phone"})
	if iss, err := svc.Create(other, u, []string{"pwd"}); err != nil || iss.Device != (store.Device{SeenBefore: true}) {
		t.Fatalf("login from a new agent: %+v, %v", iss.Device, err)
	}
}
