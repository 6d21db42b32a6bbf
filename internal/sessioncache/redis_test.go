package sessioncache_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/sessioncache"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
)

func entry(ticket string) session.Cached {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return session.Cached{
		Principal: session.Principal{
			Session: store.Session{ID: "s1", UserID: "u1", TokenHash: "h1", Status: store.SessionActive, AMR: []string{"pwd"},
				CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)},
			User: store.User{ID: "u1", Email: "a@example.com", PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
				Status: store.UserActive, Roles: []string{"editor"}, Attributes: map[string]any{"department": "engineering"}},
		},
		Hash: "h1", Loaded: now, Ticket: ticket,
	}
}

// miss looks a key up that is not there and returns the ticket.
func miss(t *testing.T, c *sessioncache.Redis, id string) string {
	t.Helper()
	_, found, ticket, err := c.Lookup(context.Background(), "", id)
	if err != nil || found || ticket == "" {
		t.Fatalf("lookup of %s: found=%v ticket=%q err=%v, want a miss with a ticket", id, found, ticket, err)
	}
	return ticket
}

func found(t *testing.T, c *sessioncache.Redis, hash, id string) (session.Cached, bool) {
	t.Helper()
	e, ok, _, err := c.Lookup(context.Background(), hash, id)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	return e, ok
}

// put offers the test entry with ticket to c; a refused Put is not an
// error, only a failed call is.
func put(t *testing.T, c *sessioncache.Redis, ticket string) {
	t.Helper()
	if err := c.Put(context.Background(), entry(ticket)); err != nil {
		t.Fatal(err)
	}
}

func TestPutAndLookupByHashAndID(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c := sessioncache.New(rdb, prefix, sessioncache.Options{})
	e := entry(miss(t, c, "s1"))
	if err := c.Put(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"h1", ""}, {"", "s1"}} {
		got, ok := found(t, c, k[0], k[1])
		if !ok {
			t.Fatalf("lookup %q: miss after put", k)
		}
		if got.Session.ID != "s1" || got.User.Email != "a@example.com" || !slices.Equal(got.User.Roles, []string{"editor"}) ||
			got.User.Attributes["department"] != "engineering" || !got.Loaded.Equal(e.Loaded) || got.Ticket != e.Ticket || got.Hash != "h1" {
			t.Fatalf("lookup %q: got %+v", k, got)
		}
		if got.User.PasswordHash != "" {
			t.Fatal("the password hash came back from Redis")
		}
	}
	// The password hash never reaches Redis at all.
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	for _, k := range keys {
		if v, _ := rdb.Get(context.Background(), k).Result(); strings.Contains(v, "argon2id") {
			t.Fatalf("%s holds the password hash", k)
		}
	}
	// Another key of the prefix is a miss.
	if _, ok := found(t, c, "other", ""); ok {
		t.Fatal("unknown hash found")
	}
}

func TestEndedIsNeverServedAgain(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	c := sessioncache.New(rdb, prefix, sessioncache.Options{})
	before := miss(t, c, "s1")
	put(t, c, before)
	if err := c.Ended(ctx, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := found(t, c, "h1", ""); ok {
		t.Fatal("ended session served by hash")
	}
	if _, ok := found(t, c, "", "s1"); ok {
		t.Fatal("ended session served by id")
	}
	// A replica that read the store before the end cannot put it back,
	// and neither can one that read it after.
	for _, ticket := range []string{before, miss(t, c, "s1")} {
		put(t, c, ticket)
		if _, ok := found(t, c, "h1", ""); ok {
			t.Fatalf("put with ticket %s brought an ended session back", ticket)
		}
	}
	// Nothing of it is kept: a refused put stores nothing.
	if n, err := rdb.Exists(ctx, prefix+"i:s1", prefix+"h:h1").Result(); err != nil || n != 0 {
		t.Fatalf("%d entries of the ended session left in Redis (%v)", n, err)
	}
}

func TestUserChangedHidesOlderReads(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	c := sessioncache.New(rdb, prefix, sessioncache.Options{})
	stored := miss(t, c, "s1")
	put(t, c, stored)
	started := miss(t, c, "other") // a read that began before the change...
	if err := c.UserChanged(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := found(t, c, "h1", ""); ok {
		t.Fatal("entry stored before the user changed is still served")
	}
	put(t, c, started) // ...and ends after it
	if _, ok := found(t, c, "h1", ""); ok {
		t.Fatal("a read that began before the change was stored")
	}
	// A read that began after the change is stored and served.
	put(t, c, miss(t, c, "s1"))
	if _, ok := found(t, c, "h1", ""); !ok {
		t.Fatal("a read after the change was not stored")
	}
	// Another user's change does not touch this entry.
	if err := c.UserChanged(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := found(t, c, "", "s1"); !ok {
		t.Fatal("another user's change hid the entry")
	}
}

// TestEmptyRestartVoidsOlderTickets: a read that began before a change,
// offered after Redis came back empty (the change's mark lost with
// everything else), is refused: the tier's generation changed.
func TestEmptyRestartVoidsOlderTickets(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	c := sessioncache.New(rdb, prefix, sessioncache.Options{})
	started := miss(t, c, "other")
	if err := c.UserChanged(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil { // Redis restarted empty
		t.Fatal(err)
	}
	put(t, c, started)
	if _, ok := found(t, c, "h1", ""); ok {
		t.Fatal("a read from before the restart was stored after it")
	}
	put(t, c, miss(t, c, "s1"))
	if _, ok := found(t, c, "h1", ""); !ok {
		t.Fatal("a read after the restart was not stored")
	}
}

// switchConn fails every read and write while down is set, like a Redis
// that went away.
type switchConn struct {
	net.Conn
	down *atomic.Bool
}

var errCut = errors.New("connection cut")

func (c switchConn) Read(b []byte) (int, error) {
	if c.down.Load() {
		return 0, errCut
	}
	return c.Conn.Read(b)
}

func (c switchConn) Write(b []byte) (int, error) {
	if c.down.Load() {
		return 0, errCut
	}
	return c.Conn.Write(b)
}

// TestOutageFallsBackAndFlushesOnReturn: while Redis is away calls fail
// fast (the breaker), and an end of session that could not be written is
// made up for by a flush of everything older as soon as Redis is back.
func TestOutageFallsBackAndFlushesOnReturn(t *testing.T) {
	base, prefix := redistest.Client(t)
	ctx := context.Background()
	var down atomic.Bool
	opt := *base.Options()
	opt.MaxRetries = -1
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errCut
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return switchConn{Conn: c, down: &down}, err
	}
	flaky := redis.NewClient(&opt)
	t.Cleanup(func() { flaky.Close() })
	a := sessioncache.New(flaky, prefix, sessioncache.Options{Breaker: time.Hour})
	b := sessioncache.New(base, prefix, sessioncache.Options{})
	put(t, b, miss(t, b, "s1"))

	down.Store(true)
	if _, _, _, err := a.Lookup(ctx, "h1", ""); err == nil {
		t.Fatal("lookup through a cut connection succeeded")
	}
	if _, _, _, err := a.Lookup(ctx, "h1", ""); !errors.Is(err, sessioncache.ErrDown) {
		t.Fatalf("second lookup: %v, want the breaker's ErrDown", err)
	}
	if err := a.Ended(ctx, []string{"s1"}); err == nil {
		t.Fatal("ended reported success while Redis was away")
	}
	if _, ok := found(t, b, "h1", ""); !ok {
		t.Fatal("setup: the entry should still be in Redis, the end was never written")
	}

	down.Store(false)
	// The breaker still keeps a's lookups away (for an hour here), but a
	// mark is always attempted: it first flushes what the lost end
	// left behind, then marks.
	if _, _, _, err := a.Lookup(ctx, "", "other"); !errors.Is(err, sessioncache.ErrDown) {
		t.Fatalf("lookup with the breaker open: %v, want ErrDown", err)
	}
	if err := a.UserChanged(ctx, "u2"); err != nil {
		t.Fatalf("a mark with the breaker open: %v", err)
	}
	if _, ok := found(t, b, "h1", ""); ok {
		t.Fatal("an entry older than a lost end is still served after Redis came back")
	}
	// Reads that begin after the flush are cached again.
	put(t, b, miss(t, b, "s1"))
	if _, ok := found(t, b, "", "s1"); !ok {
		t.Fatal("the tier did not recover after the flush")
	}
}

// countingStore counts session reads and can hold one read between the
// store's answer and its return, to order a race.
type countingStore struct {
	*sqlstore.Store
	reads atomic.Int64
	hold  chan chan struct{}
}

func (s *countingStore) GetSessionByTokenHash(ctx context.Context, h string) (store.Session, store.User, error) {
	s.reads.Add(1)
	sess, u, err := s.Store.GetSessionByTokenHash(ctx, h)
	select {
	case release := <-s.hold:
		<-release
	default:
	}
	return sess, u, err
}

func (s *countingStore) GetSession(ctx context.Context, id string) (store.Session, store.User, error) {
	s.reads.Add(1)
	return s.Store.GetSession(ctx, id)
}

// replicas returns a constructor of session services that share one
// store and one Redis, each with a memory of its own, like replicas.
func replicas(t *testing.T) (func() *session.Service, *countingStore, store.User) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	sq, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := &countingStore{Store: sq, hold: make(chan chan struct{}, 1)}
	u := &store.User{Email: "john@example.com", EmailNormalized: "john@example.com", PasswordHash: "$argon2id$secret"}
	if err := st.CreateUser(context.Background(), u, []string{"viewer"}, nil); err != nil {
		t.Fatal(err)
	}
	return func() *session.Service {
		return session.New(st, session.Options{CacheTTL: time.Hour,
			Shared: sessioncache.New(rdb, prefix, sessioncache.Options{})})
	}, st, *u
}

func TestReplicasShareChecks(t *testing.T) {
	ctx := context.Background()
	replica, st, u := replicas(t)
	a, b, c := replica(), replica(), replica()
	iss, err := a.Create(ctx, u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	if _, err := b.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("first check on b read the store %d times, want 1", n)
	}
	// c has never seen the session: Redis answers, not the database, by
	// token and by id.
	p, err := c.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica().ByID(ctx, iss.Session.ID); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("checks on fresh replicas read the store: %d reads, want 1", n)
	}
	if got := c.Stats(); got.Shared != 1 || got.Store != 0 {
		t.Fatalf("c stats = %+v, want one answer from Redis", got)
	}
	if p.User.ID != u.ID || !slices.Equal(p.User.Roles, []string{"viewer"}) {
		t.Fatalf("principal from Redis: %+v", p.User)
	}

	// A logout on a is refused by a replica that has not seen the session
	// in its memory, without waiting for any TTL.
	if err := a.Logout(ctx, iss.Principal); err != nil {
		t.Fatal(err)
	}
	for _, check := range []func(*session.Service) error{
		func(s *session.Service) error { _, err := s.Authenticate(ctx, tok); return err },
		func(s *session.Service) error { _, err := s.ByID(ctx, iss.Session.ID); return err },
	} {
		if err := check(replica()); !errors.Is(err, session.ErrInvalid) {
			t.Fatalf("after logout: %v, want ErrInvalid", err)
		}
	}
}

func TestRoleChangeReachesFreshReplicas(t *testing.T) {
	ctx := context.Background()
	replica, st, u := replicas(t)
	a := replica()
	iss, err := a.Create(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	if _, err := replica().Authenticate(ctx, tok); err != nil { // fills Redis
		t.Fatal(err)
	}
	if err := st.SetUserRoles(ctx, u.ID, []string{"editor"}, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	a.UserChanged(ctx, u.ID)
	p, err := replica().Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.User.Roles, []string{"editor"}) {
		t.Fatalf("roles after the change = %v, want [editor]", p.User.Roles)
	}
}

// TestLoaderRacingALogout: a replica reads the session from the store,
// a logout commits and is marked in Redis, then the slow replica offers
// what it read. Redis refuses it, so no replica is served the ended
// session afterwards.
func TestLoaderRacingALogout(t *testing.T) {
	ctx := context.Background()
	replica, st, u := replicas(t)
	a, slow := replica(), replica()
	iss, err := a.Create(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	release := make(chan struct{})
	st.hold <- release
	done := make(chan error, 1)
	go func() { _, err := slow.Authenticate(ctx, tok); done <- err }()
	for len(st.hold) != 0 { // the slow read has the row and waits
		time.Sleep(time.Millisecond)
	}
	if err := a.Logout(ctx, iss.Principal); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the slow check read the session before the logout: %v", err)
	}
	if _, err := replica().Authenticate(ctx, tok); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("after the race a fresh replica got %v, want ErrInvalid", err)
	}
}

// TestToldReplicaSkipsSharedEntryOfAChange: when the replica that made a
// change could not mark it in Redis, a replica told by the fan-out still
// does not use the stale shared entry: it reads the store for that user
// and session for a while.
func TestToldReplicaSkipsSharedEntryOfAChange(t *testing.T) {
	ctx := context.Background()
	replica, st, u := replicas(t)
	iss, err := replica().Create(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token.Reveal()
	if _, err := replica().Authenticate(ctx, tok); err != nil { // fills Redis
		t.Fatal(err)
	}
	// A role change whose mark never reached Redis.
	if err := st.SetUserRoles(ctx, u.ID, []string{"editor"}, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	told := replica()
	told.InvalidateUser(u.ID) // the fan-out's user event
	p, err := told.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.User.Roles, []string{"editor"}) {
		t.Fatalf("told replica served roles %v from a stale shared entry, want [editor]", p.User.Roles)
	}
	// The same for a session ended without a mark.
	if _, err := replica().ByID(ctx, iss.Session.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.EndSession(ctx, iss.Session.ID, store.SessionRevoked, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	told = replica()
	told.InvalidateSessions([]string{iss.Session.ID})
	if _, err := told.ByID(ctx, iss.Session.ID); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("told replica: %v, want ErrInvalid for a session ended without a mark", err)
	}
}
