// Package sessioncache is the Redis tier of the session cache: checked
// sessions that every replica reads and fills, between each replica's
// memory and the database (X1, X2). A replica that misses its memory, a
// new one or one just restarted, is answered from Redis instead of
// PostgreSQL, so the database is read about once per session per
// MaxEntryAge however many replicas there are.
//
// It never serves an ended session or a changed user: a lookup that
// misses hands out a ticket before the replica reads the database, and a
// Put is refused when a session end, a change of the user, or a global
// flush was recorded at or after that ticket; lookups check the same
// marks, so an entry stored before a change is never read after it.
// Tickets and marks are numbers from one Redis counter (INCR), so clocks
// play no part in their order, and every ticket and entry carries the
// tier's generation: a random value stored without expiry, made afresh
// when Redis comes back empty, which voids every ticket handed out before.
//
// What Redis must keep for this to hold: the marks, for as long as they
// live. Run it without eviction of these keys (maxmemory-policy
// noeviction, or enough memory) and do not restore it from an older
// snapshot without deleting the `<prefix>s:` keys (docs/DEPLOYMENT.md).
// Replicas that receive the fan-out do not depend on it: they stop
// reading Redis for a changed user or session for MaxEntryAge (package
// session).
//
// When a read fails the service uses the database, and lookups leave
// Redis alone for a second (a breaker), so an outage costs one slow call
// per second rather than one per request. Marks are always attempted; one
// that could not be written is made up for by a global flush as soon as
// Redis answers again.
package sessioncache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// ErrDown is returned while the breaker is open after a Redis failure.
var ErrDown = errors.New("session cache: Redis unavailable")

// MaxEntryAge bounds how long an entry lives in Redis and how old the
// store read behind a Put may be. It is fixed, not configured, because the
// marks' lifetime (markTTL) must cover every replica's entries, whatever
// each replica's cache_ttl.
const MaxEntryAge = 30 * time.Second

// markTTL keeps a mark as long as any entry it must hide can live: an
// entry is put at most MaxEntryAge after its read and lives MaxEntryAge
// more; the third is margin for clock skew between replicas.
const markTTL = 3 * MaxEntryAge

// genScript sets gen to the tier's generation, creating it from ARGV[1]
// (the prefix) and ARGV[2] (a fresh random candidate) if Redis lost it.
const genScript = `
local gen = redis.call('GET', ARGV[1] .. 'gen')
if not gen then
  gen = ARGV[2]
  redis.call('SET', ARGV[1] .. 'gen', gen)
end
`

// valid(gen, sid, uid, seq) says whether an entry or read with that
// ticket is still good: same generation, its session not ended, and
// neither its user nor everything flushed at or after seq.
const validScript = `
local function valid(tgen, sid, uid, seq)
  if tgen ~= gen then return false end
  if redis.call('EXISTS', ARGV[1] .. 't:' .. sid) == 1 then return false end
  local u = tonumber(redis.call('GET', ARGV[1] .. 'u:' .. uid) or '0')
  local g = tonumber(redis.call('GET', ARGV[1] .. 'g') or '0')
  return u < seq and g < seq
end
`

// lookup: KEYS[1] the entry key; ARGV prefix, candidate generation.
// Returns {ticket} on a miss, {ticket, value} on a hit.
var lookup = redis.NewScript(genScript + validScript + `
local ticket = gen .. ':' .. redis.call('INCR', ARGV[1] .. 'seq')
local v = redis.call('GET', KEYS[1])
if not v then return {ticket} end
local sid, uid, tgen, seq = string.match(v, '^([^\n]*)\n([^\n]*)\n([^:\n]*):(%d+)\n')
if not sid or not valid(tgen, sid, uid, tonumber(seq)) then return {ticket} end
return {ticket, v}
`)

// put: KEYS[1] the id key, KEYS[2] the hash key; ARGV prefix, candidate
// generation, sid, uid, ticket generation, ticket sequence, value, ttl ms.
var put = redis.NewScript(genScript + validScript + `
if not valid(ARGV[5], ARGV[3], ARGV[4], tonumber(ARGV[6])) then return 0 end
redis.call('SET', KEYS[1], ARGV[7], 'PX', ARGV[8])
redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[8])
return 1
`)

// ended: ARGV prefix, candidate generation, mark ttl ms, session ids...
var ended = redis.NewScript(genScript + `
local seq = redis.call('INCR', ARGV[1] .. 'seq')
for i = 4, #ARGV do
  local sid = ARGV[i]
  redis.call('SET', ARGV[1] .. 't:' .. sid, seq, 'PX', ARGV[3])
  local v = redis.call('GET', ARGV[1] .. 'i:' .. sid)
  if v then
    local hash = string.match(v, '^[^\n]*\n[^\n]*\n[^\n]*\n([^\n]*)\n')
    if hash then redis.call('DEL', ARGV[1] .. 'h:' .. hash) end
    redis.call('DEL', ARGV[1] .. 'i:' .. sid)
  end
end
return seq
`)

// markKey: KEYS[1] a user's mark or the global one; ARGV prefix,
// candidate generation, ttl ms.
var markKey = redis.NewScript(genScript + `
local seq = redis.call('INCR', ARGV[1] .. 'seq')
redis.call('SET', KEYS[1], seq, 'PX', ARGV[3])
return seq
`)

// Options tune the tier.
type Options struct {
	// Breaker is how long lookups leave Redis alone after a failure.
	// Default 1s.
	Breaker time.Duration
	Now     func() time.Time
}

// Redis implements session.Shared. It needs a single Redis server (or a
// Sentinel-managed one): the scripts touch keys they name themselves, which
// Redis Cluster would refuse.
type Redis struct {
	rdb    *redis.Client
	prefix string
	o      Options

	mu        sync.Mutex
	downUntil time.Time
	// unmarked counts Ended and UserChanged calls that could not be
	// written; while it is not 0, the next call that reaches Redis first
	// flushes every entry older than now.
	unmarked uint64
}

var _ session.Shared = (*Redis)(nil)

// New returns the tier on rdb with keys under prefix.
func New(rdb *redis.Client, prefix string, o Options) *Redis {
	if o.Breaker <= 0 {
		o.Breaker = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Redis{rdb: rdb, prefix: prefix, o: o}
}

// MaxAge implements session.Shared.
func (r *Redis) MaxAge() time.Duration { return MaxEntryAge }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// candidate is a fresh generation, used only if Redis lost the current one.
func candidate() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// begin reports whether a lookup or put may call Redis now; marks call
// flush directly and never wait for the breaker.
func (r *Redis) begin(ctx context.Context) error {
	r.mu.Lock()
	down := r.o.Now().Before(r.downUntil)
	r.mu.Unlock()
	if down {
		return ErrDown
	}
	return r.flush(ctx)
}

// flush writes the global mark if a mark was lost earlier.
func (r *Redis) flush(ctx context.Context) error {
	r.mu.Lock()
	unmarked := r.unmarked
	r.mu.Unlock()
	if unmarked == 0 {
		return nil
	}
	if err := markKey.Run(ctx, r.rdb, []string{r.prefix + "g"}, r.prefix, candidate(), ms(markTTL)).Err(); err != nil {
		return r.fail(err, false)
	}
	r.mu.Lock()
	if r.unmarked == unmarked { // none was lost meanwhile
		r.unmarked = 0
	}
	r.mu.Unlock()
	return nil
}

// fail opens the breaker; lostMark records that an invalidation was not
// written, so a global flush must come first once Redis is back.
func (r *Redis) fail(err error, lostMark bool) error {
	r.mu.Lock()
	r.downUntil = r.o.Now().Add(r.o.Breaker)
	if lostMark {
		r.unmarked++
	}
	r.mu.Unlock()
	return fmt.Errorf("session cache: %w", err)
}

// wire is the JSON after the entry's header.
type wire struct {
	Session store.Session
	User    store.User
	Loaded  time.Time
}

// encode writes "sid\nuid\nticket\nhash\n" and the entry as JSON. The
// password hash is left out: a session check never needs it.
func encode(c session.Cached) (string, error) {
	u := c.User
	u.PasswordHash = ""
	b, err := json.Marshal(wire{Session: c.Session, User: u, Loaded: c.Loaded})
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, f := range []string{c.Session.ID, c.User.ID, c.Ticket, c.Hash} {
		if strings.ContainsRune(f, '\n') {
			return "", errors.New("session cache: newline in a key field")
		}
		sb.WriteString(f)
		sb.WriteByte('\n')
	}
	sb.Write(b)
	return sb.String(), nil
}

func decode(v string) (session.Cached, error) {
	f := strings.SplitN(v, "\n", 5)
	if len(f) != 5 {
		return session.Cached{}, errors.New("session cache: malformed entry")
	}
	var w wire
	if err := json.Unmarshal([]byte(f[4]), &w); err != nil {
		return session.Cached{}, fmt.Errorf("session cache: %w", err)
	}
	return session.Cached{Principal: session.Principal{Session: w.Session, User: w.User}, Hash: f[3], Loaded: w.Loaded, Ticket: f[2]}, nil
}

// splitTicket parses "generation:sequence".
func splitTicket(t string) (gen, seq string, ok bool) {
	gen, seq, ok = strings.Cut(t, ":")
	if !ok || gen == "" || seq == "" {
		return "", "", false
	}
	if _, err := strconv.ParseUint(seq, 10, 63); err != nil {
		return "", "", false
	}
	return gen, seq, true
}

// Lookup implements session.Shared.
func (r *Redis) Lookup(ctx context.Context, hash, id string) (session.Cached, bool, string, error) {
	if err := r.begin(ctx); err != nil {
		return session.Cached{}, false, "", err
	}
	key := r.prefix + "i:" + id
	if hash != "" {
		key = r.prefix + "h:" + hash
	}
	res, err := lookup.Run(ctx, r.rdb, []string{key}, r.prefix, candidate()).StringSlice()
	if err != nil {
		return session.Cached{}, false, "", r.fail(err, false)
	}
	if len(res) == 0 {
		return session.Cached{}, false, "", errors.New("session cache: empty reply")
	}
	ticket := res[0]
	if len(res) < 2 {
		return session.Cached{}, false, ticket, nil
	}
	c, err := decode(res[1])
	if err != nil {
		// An entry this version cannot read is a miss, not an outage.
		return session.Cached{}, false, ticket, nil
	}
	return c, true, ticket, nil
}

// Put implements session.Shared. The caller must not offer a read older
// than MaxEntryAge (session.Service checks Loaded).
func (r *Redis) Put(ctx context.Context, c session.Cached) error {
	gen, seq, ok := splitTicket(c.Ticket)
	if !ok {
		return errors.New("session cache: malformed ticket")
	}
	if err := r.begin(ctx); err != nil {
		return err
	}
	v, err := encode(c)
	if err != nil {
		return err
	}
	err = put.Run(ctx, r.rdb, []string{r.prefix + "i:" + c.Session.ID, r.prefix + "h:" + c.Hash},
		r.prefix, candidate(), c.Session.ID, c.User.ID, gen, seq, v, ms(MaxEntryAge)).Err()
	if err != nil {
		return r.fail(err, false)
	}
	return nil
}

// Ended implements session.Shared.
func (r *Redis) Ended(ctx context.Context, ids []string) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return r.mark(ctx, ended, nil, args...)
}

// UserChanged implements session.Shared.
func (r *Redis) UserChanged(ctx context.Context, userID string) error {
	return r.mark(ctx, markKey, []string{r.prefix + "u:" + userID})
}

// mark runs an invalidation script (ARGV: prefix, candidate generation,
// mark ttl, then extra). It is always attempted, breaker or not: an
// invalidation must not be skipped because a read failed earlier. One
// that fails is made up for by a global flush once Redis answers.
func (r *Redis) mark(ctx context.Context, script *redis.Script, keys []string, extra ...any) error {
	if err := r.flush(ctx); err != nil {
		r.mu.Lock()
		r.unmarked++
		r.mu.Unlock()
		return err
	}
	args := append([]any{r.prefix, candidate(), ms(markTTL)}, extra...)
	if err := script.Run(ctx, r.rdb, keys, args...).Err(); err != nil {
		return r.fail(err, true)
	}
	return nil
}
