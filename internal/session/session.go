package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Errors.
var (
	// ErrInvalid: no such session, or not active, expired, or its user is
	// suspended. The caller answers 401 and says nothing more (S12).
	ErrInvalid = errors.New("session invalid")
	// ErrReused: a spent refresh token came back; the session is revoked.
	ErrReused = errors.New("refresh token reused; session revoked")
	// ErrNotFound: no active session with that id belongs to the user.
	ErrNotFound = store.ErrNotFound
)

// Store is the persistence sessions need.
type Store interface {
	CreateLoginSession(ctx context.Context, s *store.Session, rt *store.RefreshToken, ev *store.AuditEvent) (store.Device, error)
	GetSessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, store.User, error)
	GetSession(ctx context.Context, id string) (store.Session, store.User, error)
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error
	ListActiveSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error)
	EndSession(ctx context.Context, id, status string, now time.Time, ev *store.AuditEvent) error
	RevokeUserSessions(ctx context.Context, userID, exceptID string, now time.Time, ev *store.AuditEvent) ([]string, error)
	RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) (store.Session, store.User, error)
	ExpireSessions(ctx context.Context, now, purgeBefore time.Time, limit int) (int, error)
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
}

// Options configure lifetimes and caching.
type Options struct {
	Lifetime    time.Duration // absolute (S10), default 24h
	IdleTimeout time.Duration // sliding (S11), default 2h
	RefreshTTL  time.Duration // J10, default 30 days (capped by the session)
	// CacheTTL bounds how long a cached check is trusted without reading
	// the store again (changes made by other processes). Default 30s.
	CacheTTL time.Duration
	// TouchEvery throttles last_seen_at writes. Default 1 minute.
	TouchEvery time.Duration
	// Retain is how long ended sessions are kept before the janitor
	// deletes them. Default 30 days.
	Retain time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	// OnRevoke is told of every session this process ends (fan-out to
	// other replicas plugs in here).
	OnRevoke func(sessionIDs []string)
	// Shared is the cache tier the replicas share (Redis), between this
	// process's memory and the store; nil without one.
	Shared Shared
}

// Shared is a cache of checked sessions that every replica reads and
// fills. It must never serve a session that was ended, or a user that
// changed, after the read that filled it began: Lookup hands out a ticket
// before the store is read, and Put refuses an entry whose ticket is older
// than the latest Ended or UserChanged that concerns it. Every method may
// fail; the service then uses the store (slower, never less safe).
type Shared interface {
	// Lookup finds a checked session by token hash or by id (the other
	// is ""). It also returns the ticket for a Put that follows a store
	// read.
	Lookup(ctx context.Context, hash, id string) (c Cached, found bool, ticket string, err error)
	// Put stores c unless something invalidated it since c.Ticket.
	Put(ctx context.Context, c Cached) error
	// Ended marks sessions ended; their entries are never served again.
	Ended(ctx context.Context, ids []string) error
	// UserChanged drops every entry of the user loaded before now.
	UserChanged(ctx context.Context, userID string) error
	// MaxAge is the oldest store read Put accepts, and how long an entry
	// lives in the tier.
	MaxAge() time.Duration
}

// Cached is one checked session as the shared tier keeps it.
type Cached struct {
	Principal
	Hash string
	// Loaded is when the store was read; the entry is trusted for
	// CacheTTL from then, whichever replica read it.
	Loaded time.Time
	// Ticket is the shared tier's opaque ticket, taken before the read.
	Ticket string
}

// Stats count session checks that this replica's memory could not answer,
// by where the answer came from.
type Stats struct {
	Shared, Store uint64
}

// Service implements sessions.
type Service struct {
	st Store
	o  Options
	c  *cache
	// fromShared and fromStore count checks answered by the shared
	// tier and by the store.
	fromShared, fromStore atomic.Uint64
	// distrust lists users and sessions that changed lately: their
	// entries in the shared tier are not used, whether or not the change
	// could be marked there.
	distrust distrustList
}

// New builds the service.
func New(st Store, o Options) *Service {
	if o.Lifetime <= 0 {
		o.Lifetime = 24 * time.Hour
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Hour
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 30 * 24 * time.Hour
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = time.Minute
	}
	if o.Retain <= 0 {
		o.Retain = 30 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnRevoke == nil {
		o.OnRevoke = func([]string) {}
	}
	return &Service{st: st, o: o, c: newCache(100_000)}
}

// SetOnRevoke sets the revocation hook after construction (the fan-out
// is wired after the service). Call it before the service is used.
func (s *Service) SetOnRevoke(f func(ids []string)) { s.o.OnRevoke = f }

// SetShared sets the shared cache tier after construction. Call it before
// the service is used.
func (s *Service) SetShared(sh Shared) { s.o.Shared = sh }

// Stats reports where checks that missed this replica's memory were
// answered.
func (s *Service) Stats() Stats {
	return Stats{Shared: s.fromShared.Load(), Store: s.fromStore.Load()}
}

// Principal is an authenticated session with its user.
type Principal struct {
	Session store.Session
	User    store.User
}

// Issued is a new session with its secrets, shown to the client once.
type Issued struct {
	Principal
	Token   secret.Secret
	Refresh secret.Secret
	// Device is what the user's earlier sessions say of this one's device
	// (R5: whether to send a new-device notice).
	Device store.Device
}

// Create starts a new session for u with fresh tokens (S1, S17: any token
// the request carried is ignored). Every session starts with a login, so
// the login is recorded on the user with it (L14: failed attempts and lock
// reset, last login time and address), and the login audit event too.
func (s *Service) Create(ctx context.Context, u store.User, amr []string) (Issued, error) {
	meta := audit.MetaFrom(ctx)
	now := s.o.Now()
	epoch := s.c.snapshot()
	tok, err := secret.NewToken(secret.TokenBytes)
	if err != nil {
		return Issued{}, err
	}
	ref, err := secret.NewToken(secret.TokenBytes)
	if err != nil {
		return Issued{}, err
	}
	sess := store.Session{
		UserID: u.ID, TokenHash: secret.Digest(tok.Reveal()), Status: store.SessionActive,
		IPAddress: meta.IP, UserAgent: meta.UserAgent, AMR: amr,
		CreatedAt: now, UpdatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.o.Lifetime), IdleExpiresAt: minTime(now.Add(s.o.IdleTimeout), now.Add(s.o.Lifetime)),
	}
	rt := &store.RefreshToken{TokenHash: secret.Digest(ref.Reveal()), CreatedAt: now, ExpiresAt: minTime(now.Add(s.o.RefreshTTL), sess.ExpiresAt)}
	meta.ActorID = u.ID
	ev := meta.Event(audit.LoginSucceeded, audit.Success, u.ID, map[string]any{"amr": amr})
	dev, err := s.st.CreateLoginSession(ctx, &sess, rt, ev)
	if err != nil {
		return Issued{}, fmt.Errorf("create session: %w", err)
	}
	u.FailedLoginAttempts, u.LockedUntil, u.LastLoginAt, u.LastLoginIP = 0, nil, &sess.CreatedAt, sess.IPAddress
	u.UpdatedAt = sess.CreatedAt
	p := Principal{Session: sess, User: u}
	s.c.putIfCurrent(&entry{p: p, hash: sess.TokenHash, loaded: now}, epoch)
	return Issued{Principal: p, Token: tok, Refresh: ref, Device: dev}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// valid reports whether the session may be used now.
func valid(p Principal, now time.Time) bool {
	return p.Session.Status == store.SessionActive && now.Before(p.Session.ExpiresAt) &&
		now.Before(p.Session.IdleExpiresAt) && p.User.Status == store.UserActive
}

// Authenticate checks an opaque session token (cookie or bearer).
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if len(token) != 43 { // base64url of 32 bytes
		return Principal{}, ErrInvalid
	}
	hash := secret.Digest(token)
	now := s.o.Now()
	e := s.c.byHash(hash)
	if e == nil || now.Sub(e.loaded) > s.o.CacheTTL {
		var err error
		if e, err = s.load(ctx, hash, "", now); err != nil {
			return Principal{}, err
		}
	}
	return s.use(ctx, e, now)
}

// ByID checks the session named by an access token's sid claim (J16).
func (s *Service) ByID(ctx context.Context, id string) (Principal, error) {
	now := s.o.Now()
	e := s.c.byID(id)
	if e == nil || now.Sub(e.loaded) > s.o.CacheTTL {
		var err error
		if e, err = s.load(ctx, "", id, now); err != nil {
			return Principal{}, err
		}
	}
	return s.use(ctx, e, now)
}

// load answers a check this replica's memory could not: from the shared
// tier when it has a fresh entry, else from the store (one query), which
// then fills both tiers. Exactly one of hash and id is set.
func (s *Service) load(ctx context.Context, hash, id string, now time.Time) (*entry, error) {
	epoch := s.c.snapshot()
	var ticket string
	if sh := s.o.Shared; sh != nil {
		c, found, t, err := sh.Lookup(ctx, hash, id)
		switch {
		case err != nil:
			s.o.Log.DebugContext(ctx, "shared session cache", "err", err)
		case found && now.Sub(c.Loaded) <= s.o.CacheTTL && (hash == "" || c.Hash == hash) && (id == "" || c.Session.ID == id) &&
			!s.distrust.has(now, c.User.ID, c.Session.ID):
			s.fromShared.Add(1)
			e := &entry{p: c.Principal, hash: c.Hash, loaded: c.Loaded, ticket: c.Ticket}
			s.c.putIfCurrent(e, epoch)
			return e, nil
		default:
			ticket = t
		}
	}
	var sess store.Session
	var u store.User
	var err error
	if hash != "" {
		sess, u, err = s.st.GetSessionByTokenHash(ctx, hash)
	} else {
		sess, u, err = s.st.GetSession(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		if hash != "" {
			s.c.removeHash(hash)
		}
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("check session: %w", err) // fail closed (S13)
	}
	s.fromStore.Add(1)
	e := &entry{p: Principal{Session: sess, User: u}, hash: sess.TokenHash, loaded: now, ticket: ticket}
	s.c.putIfCurrent(e, epoch)
	s.share(ctx, e, now)
	return e, nil
}

// share offers an entry read from the store to the shared tier, while
// its read is recent enough.
func (s *Service) share(ctx context.Context, e *entry, now time.Time) {
	if s.o.Shared == nil || e.ticket == "" || now.Sub(e.loaded) > s.o.Shared.MaxAge() {
		return
	}
	if err := s.o.Shared.Put(ctx, Cached{Principal: e.p, Hash: e.hash, Loaded: e.loaded, Ticket: e.ticket}); err != nil {
		s.o.Log.DebugContext(ctx, "shared session cache", "err", err)
	}
}

// use validates a cached session and slides its idle expiry, writing
// last_seen_at at most once per TouchEvery.
func (s *Service) use(ctx context.Context, e *entry, now time.Time) (Principal, error) {
	if !valid(e.p, now) {
		return Principal{}, ErrInvalid
	}
	if now.Sub(e.p.Session.LastSeenAt) < s.o.TouchEvery {
		return e.p, nil
	}
	p := e.p
	p.Session.LastSeenAt = now
	p.Session.IdleExpiresAt = minTime(now.Add(s.o.IdleTimeout), p.Session.ExpiresAt)
	epoch := s.c.snapshot()
	if err := s.st.TouchSession(ctx, p.Session.ID, now, p.Session.IdleExpiresAt); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// The store says the session is no longer active.
			s.c.removeID(p.Session.ID)
			return Principal{}, ErrInvalid
		}
		// The check itself succeeded; a failed touch only delays sliding.
		s.o.Log.WarnContext(ctx, "touch session", "err", err)
		return e.p, nil
	}
	touched := &entry{p: p, hash: e.hash, loaded: e.loaded, ticket: e.ticket}
	s.c.putIfCurrent(touched, epoch)
	s.share(ctx, touched, now)
	if meta := audit.MetaFrom(ctx); meta.IP != "" && meta.IP != p.Session.IPAddress {
		// S18: a changed IP is a signal, not a logout.
		ev := meta.Event(audit.SessionIPChanged, audit.Success, p.User.ID, map[string]any{"session_id": p.Session.ID, "from": p.Session.IPAddress, "to": meta.IP})
		if err := s.st.AppendAudit(ctx, ev); err != nil {
			s.o.Log.WarnContext(ctx, "audit ip change", "err", err)
		}
	}
	return p, nil
}

// Refresh spends a refresh token and returns the session with its user as
// stored now (J17: roles and status re-read) and the next refresh token.
func (s *Service) Refresh(ctx context.Context, refresh string) (Principal, secret.Secret, error) {
	if len(refresh) != 43 {
		return Principal{}, "", ErrInvalid
	}
	now := s.o.Now()
	epoch := s.c.snapshot()
	next, err := secret.NewToken(secret.TokenBytes)
	if err != nil {
		return Principal{}, "", err
	}
	rt := &store.RefreshToken{TokenHash: secret.Digest(next.Reveal()), CreatedAt: now}
	// The next token lives as long as the configured TTL allows, capped by
	// the session's absolute expiry below.
	rt.ExpiresAt = now.Add(s.o.RefreshTTL)
	sess, u, err := s.st.RotateRefreshToken(ctx, secret.Digest(refresh), rt, now)
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.ended(ctx, []string{sess.ID})
		s.o.Log.WarnContext(ctx, "refresh token reuse: session revoked", "session_id", sess.ID, "user_id", sess.UserID)
		ev := audit.MetaFrom(ctx).Event(audit.TokenRefreshReuse, audit.Denied, sess.UserID, map[string]any{"session_id": sess.ID})
		if err := s.st.AppendAudit(ctx, ev); err != nil {
			s.o.Log.WarnContext(ctx, "audit refresh reuse", "err", err)
		}
		return Principal{}, "", ErrReused
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, "", ErrInvalid
	case err != nil:
		return Principal{}, "", fmt.Errorf("refresh: %w", err)
	}
	p := Principal{Session: sess, User: u}
	s.c.putIfCurrent(&entry{p: p, hash: sess.TokenHash, loaded: now}, epoch)
	ev := audit.MetaFrom(ctx).Event(audit.TokenRefreshed, audit.Success, u.ID, map[string]any{"session_id": sess.ID})
	ev.ActorID = u.ID
	if err := s.st.AppendAudit(ctx, ev); err != nil {
		s.o.Log.WarnContext(ctx, "audit refresh", "err", err)
	}
	return p, next, nil
}

// Logout ends the session as logged_out (S14, J15).
func (s *Service) Logout(ctx context.Context, p Principal) error {
	ev := audit.MetaFrom(ctx).Event(audit.Logout, audit.Success, p.User.ID, map[string]any{"session_id": p.Session.ID})
	err := s.st.EndSession(ctx, p.Session.ID, store.SessionLoggedOut, s.o.Now(), ev)
	s.ended(ctx, []string{p.Session.ID})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// ended drops sessions this replica ended from every tier: the shared
// one first, so no replica that the fan-out then tells can refill its
// memory from a stale shared entry.
func (s *Service) ended(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	if s.o.Shared != nil {
		s.distrustShared(ids...)
		if err := s.o.Shared.Ended(ctx, ids); err != nil {
			s.o.Log.WarnContext(ctx, "shared session cache: mark ended", "err", err)
		}
	}
	for _, id := range ids {
		s.c.removeID(id)
	}
	s.o.OnRevoke(ids)
}

// List returns the user's active sessions.
func (s *Service) List(ctx context.Context, userID string) ([]store.Session, error) {
	ss, err := s.st.ListActiveSessions(ctx, userID, s.o.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}

// Revoke ends one session of the user. ErrNotFound when the id is not an
// active session of that user (no probing of other users' ids).
func (s *Service) Revoke(ctx context.Context, userID, sessionID string) error {
	sess, _, err := s.st.GetSession(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (sess.UserID != userID || sess.Status != store.SessionActive)) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	ev := audit.MetaFrom(ctx).Event(audit.SessionRevoked, audit.Success, userID, map[string]any{"session_id": sessionID})
	err = s.st.EndSession(ctx, sessionID, store.SessionRevoked, s.o.Now(), ev)
	s.ended(ctx, []string{sessionID})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeAll ends every session of the user except exceptID (may be "").
func (s *Service) RevokeAll(ctx context.Context, userID, exceptID string) (int, error) {
	ev := audit.MetaFrom(ctx).Event(audit.SessionsRevoked, audit.Success, userID, nil)
	ids, err := s.st.RevokeUserSessions(ctx, userID, exceptID, s.o.Now(), ev)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	s.ended(ctx, ids)
	return len(ids), nil
}

// UserChanged drops every cached session of a user this replica changed,
// in the shared tier first and then here, so the next check reads status
// and roles from the store (S16, S19). The caller then tells the other
// replicas, which call InvalidateUser.
func (s *Service) UserChanged(ctx context.Context, userID string) {
	if s.o.Shared != nil {
		s.distrustShared(userID)
		if err := s.o.Shared.UserChanged(ctx, userID); err != nil {
			s.o.Log.WarnContext(ctx, "shared session cache: drop user", "err", err)
		}
	}
	s.c.removeUser(userID)
}

// InvalidateUser drops the user's sessions from this replica's memory
// (told by another replica, which marked the shared tier too). The
// shared tier's entries of the user are not used here for a while either,
// in case that mark failed.
func (s *Service) InvalidateUser(userID string) {
	s.distrustShared(userID)
	s.c.removeUser(userID)
}

// InvalidateSessions drops cached entries (told by another replica), and
// does not use the shared tier's entries of them for a while.
func (s *Service) InvalidateSessions(ids []string) {
	s.distrustShared(ids...)
	for _, id := range ids {
		s.c.removeID(id)
	}
}

// distrustShared keeps this replica off the shared tier's entries of
// changed users or sessions (no-op without a shared tier) until any entry
// read before the change has expired: put at most MaxAge after its read,
// living MaxAge more, plus margin.
func (s *Service) distrustShared(ids ...string) {
	if s.o.Shared != nil {
		s.distrust.add(s.o.Now(), 3*s.o.Shared.MaxAge(), ids...)
	}
}

// distrustList is a set of ids, each until a deadline. Overflow makes it
// distrust everything for the longest deadline instead of growing.
type distrustList struct {
	mu  sync.Mutex
	ids map[string]time.Time
	all time.Time
}

const maxDistrusted = 100_000

func (d *distrustList) add(now time.Time, dur time.Duration, ids ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	until := now.Add(dur)
	if d.ids == nil {
		d.ids = map[string]time.Time{}
	}
	if len(d.ids)+len(ids) > maxDistrusted {
		for id, t := range d.ids {
			if !now.Before(t) {
				delete(d.ids, id)
			}
		}
		if len(d.ids)+len(ids) > maxDistrusted {
			d.ids = map[string]time.Time{}
			d.all = until
			return
		}
	}
	for _, id := range ids {
		d.ids[id] = until
	}
}

// has reports whether any of ids (user and session ids do not collide:
// both are random UUIDs) is distrusted at now.
func (d *distrustList) has(now time.Time, ids ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Before(d.all) {
		return true
	}
	for _, id := range ids {
		if t, ok := d.ids[id]; ok {
			if now.Before(t) {
				return true
			}
			delete(d.ids, id)
		}
	}
	return false
}

// Sweep runs one janitor pass (S21, X8).
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.o.Now()
	return s.st.ExpireSessions(ctx, now, now.Add(-s.o.Retain), 500)
}

// RunJanitor sweeps every interval until ctx ends.
func (s *Service) RunJanitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx); err != nil {
				s.o.Log.WarnContext(ctx, "session janitor", "err", err)
			} else if n > 0 {
				s.o.Log.DebugContext(ctx, "session janitor", "rows", n)
			}
		}
	}
}

// entry is an immutable cached check result.
type entry struct {
	p      Principal
	hash   string
	loaded time.Time
	ticket string // the shared tier's ticket for the read ("": none)
}

// cache indexes entries by token hash, session id and user id.
type cache struct {
	mu sync.RWMutex
	// epoch counts invalidations. A loader notes it before reading the
	// store and caches its result only if no invalidation happened in
	// between, so a revocation can never be undone by a read that started
	// before it.
	epoch  uint64
	max    int
	hashes map[string]*entry
	ids    map[string]*entry
	users  map[string]map[string]struct{}
}

func newCache(max int) *cache {
	return &cache{max: max, hashes: map[string]*entry{}, ids: map[string]*entry{}, users: map[string]map[string]struct{}{}}
}

func (c *cache) byHash(h string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.hashes[h]
}

func (c *cache) byID(id string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ids[id]
}

// snapshot returns the current invalidation epoch.
func (c *cache) snapshot() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// putIfCurrent caches e unless an invalidation happened since epoch.
func (c *cache) putIfCurrent(e *entry, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	c.putLocked(e)
}

func (c *cache) putLocked(e *entry) {
	if len(c.ids) >= c.max {
		c.hashes, c.ids, c.users = map[string]*entry{}, map[string]*entry{}, map[string]map[string]struct{}{}
	}
	id, uid := e.p.Session.ID, e.p.User.ID
	c.ids[id] = e
	if e.hash != "" {
		c.hashes[e.hash] = e
	}
	if c.users[uid] == nil {
		c.users[uid] = map[string]struct{}{}
	}
	c.users[uid][id] = struct{}{}
}

func (c *cache) removeLocked(id string) {
	c.epoch++
	e := c.ids[id]
	if e == nil {
		return
	}
	delete(c.ids, id)
	delete(c.hashes, e.hash)
	if set := c.users[e.p.User.ID]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(c.users, e.p.User.ID)
		}
	}
}

func (c *cache) removeID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(id)
}

func (c *cache) removeHash(h string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.hashes[h]; e != nil {
		c.removeLocked(e.p.Session.ID)
	}
}

func (c *cache) removeUser(uid string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	var ids []string
	for id := range c.users[uid] {
		ids = append(ids, id)
	}
	for _, id := range ids {
		c.removeLocked(id)
	}
	return ids
}
