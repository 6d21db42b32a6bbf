// Package sessioncache is the Redis tier of the session cache: checked
// sessions that every replica reads and fills, between each replica's
// memory and the database (X1, X2). A replica that misses its memory, a
// new one or one just restarted, is answered from Redis instead of
// PostgreSQL, so the database is read about once per session per cache
// TTL however many replicas there are.
//
// It never serves an ended session or a changed user: a lookup that
// misses hands out a ticket (Redis's own clock) before the replica reads
// the database, and a Put is refused when a session end, a change of the
// user, or a global flush was recorded at or after that ticket; lookups
// check the same marks, so an entry stored before a change is never read
// after it. All times come from the one Redis server's clock, so replica
// clocks do not matter.
//
// When Redis fails the service reads the database, and this tier stops
// trying for a second at a time (a breaker), so an outage costs one slow
// call per second rather than one per request. A mark that could not be
// written is made up for by a global flush as soon as Redis answers again.
package sessioncache

import (
	"context"
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

// nowScript sets now to the Redis clock in microseconds, as a string of
// digits (exact in Lua's doubles until the year 2255).
const nowScript = `
local t = redis.call('TIME')
local now = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]
`

// valid(sid, uid, ticket) says whether an entry read at ticket is still
// good: its session was not ended and neither its user nor everything was
// flushed since. ARGV[1] is the key prefix.
const validScript = `
local function valid(sid, uid, ticket)
  if redis.call('EXISTS', ARGV[1] .. 't:' .. sid) == 1 then return false end
  local u = tonumber(redis.call('GET', ARGV[1] .. 'u:' .. uid) or '0')
  local g = tonumber(redis.call('GET', ARGV[1] .. 'g') or '0')
  return u < ticket and g < ticket
end
`

// lookup: KEYS[1] the entry key. Returns {now} on a miss, {now, value} on
// a hit.
var lookup = redis.NewScript(nowScript + validScript + `
local v = redis.call('GET', KEYS[1])
if not v then return {now} end
local sid, uid, ticket = string.match(v, '^([^\n]*)\n([^\n]*)\n(%d+)\n')
if not sid or not valid(sid, uid, tonumber(ticket)) then return {now} end
return {now, v}
`)

// put: KEYS[1] the id key, KEYS[2] the hash key; ARGV: prefix, sid, uid,
// ticket, value, ttl ms, longest accepted age of a ticket in µs.
var put = redis.NewScript(nowScript + validScript + `
local ticket = tonumber(ARGV[4])
if tonumber(now) - ticket > tonumber(ARGV[7]) then return 0 end
if not valid(ARGV[2], ARGV[3], ticket) then return 0 end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[6])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
return 1
`)

// ended: ARGV: prefix, mark ttl ms, session ids...
var ended = redis.NewScript(nowScript + `
for i = 3, #ARGV do
  local sid = ARGV[i]
  redis.call('SET', ARGV[1] .. 't:' .. sid, now, 'PX', ARGV[2])
  local v = redis.call('GET', ARGV[1] .. 'i:' .. sid)
  if v then
    local hash = string.match(v, '^[^\n]*\n[^\n]*\n%d+\n([^\n]*)\n')
    if hash then redis.call('DEL', ARGV[1] .. 'h:' .. hash) end
    redis.call('DEL', ARGV[1] .. 'i:' .. sid)
  end
end
return #ARGV - 2
`)

// mark: KEYS[1] a user's mark or the global one; ARGV[1] ttl ms.
var mark = redis.NewScript(nowScript + `
redis.call('SET', KEYS[1], now, 'PX', ARGV[1])
return 1
`)

// Options tune the tier.
type Options struct {
	// TTL is how long an entry lives in Redis; use the session cache TTL.
	TTL time.Duration
	// Breaker is how long Redis is left alone after a failure. Default 1s.
	Breaker time.Duration
	Now     func() time.Time
}

// Redis implements session.Shared.
type Redis struct {
	rdb    redis.UniversalClient
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
func New(rdb redis.UniversalClient, prefix string, o Options) *Redis {
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.Breaker <= 0 {
		o.Breaker = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Redis{rdb: rdb, prefix: prefix, o: o}
}

// markTTL keeps a mark as long as any entry it must hide can live: an
// entry is put at most one TTL after its ticket and lives one TTL more.
func (r *Redis) markTTL() string { return ms(3 * r.o.TTL) }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// begin reports whether Redis may be called now, after making up for a
// mark that failed earlier.
func (r *Redis) begin(ctx context.Context) error {
	r.mu.Lock()
	down := r.o.Now().Before(r.downUntil)
	unmarked := r.unmarked
	r.mu.Unlock()
	if down {
		return ErrDown
	}
	if unmarked != 0 {
		if err := mark.Run(ctx, r.rdb, []string{r.prefix + "g"}, r.markTTL()).Err(); err != nil {
			return r.fail(err, false)
		}
		r.mu.Lock()
		if r.unmarked == unmarked { // none was lost meanwhile
			r.unmarked = 0
		}
		r.mu.Unlock()
	}
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
	for _, f := range []string{c.Session.ID, c.User.ID, strconv.FormatInt(c.Ticket, 10), c.Hash} {
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
	ticket, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return session.Cached{}, errors.New("session cache: malformed ticket")
	}
	var w wire
	if err := json.Unmarshal([]byte(f[4]), &w); err != nil {
		return session.Cached{}, fmt.Errorf("session cache: %w", err)
	}
	return session.Cached{Principal: session.Principal{Session: w.Session, User: w.User}, Hash: f[3], Loaded: w.Loaded, Ticket: ticket}, nil
}

// Lookup implements session.Shared.
func (r *Redis) Lookup(ctx context.Context, hash, id string) (session.Cached, bool, int64, error) {
	if err := r.begin(ctx); err != nil {
		return session.Cached{}, false, 0, err
	}
	key := r.prefix + "i:" + id
	if hash != "" {
		key = r.prefix + "h:" + hash
	}
	res, err := lookup.Run(ctx, r.rdb, []string{key}, r.prefix).Slice()
	if err != nil {
		return session.Cached{}, false, 0, r.fail(err, false)
	}
	if len(res) == 0 {
		return session.Cached{}, false, 0, errors.New("session cache: empty reply")
	}
	now, err := strconv.ParseInt(fmt.Sprint(res[0]), 10, 64)
	if err != nil {
		return session.Cached{}, false, 0, errors.New("session cache: bad clock reply")
	}
	if len(res) < 2 {
		return session.Cached{}, false, now, nil
	}
	v, _ := res[1].(string)
	c, err := decode(v)
	if err != nil {
		// An entry this version cannot read is a miss, not an outage.
		return session.Cached{}, false, now, nil
	}
	return c, true, now, nil
}

// Put implements session.Shared.
func (r *Redis) Put(ctx context.Context, c session.Cached) error {
	if err := r.begin(ctx); err != nil {
		return err
	}
	v, err := encode(c)
	if err != nil {
		return err
	}
	err = put.Run(ctx, r.rdb, []string{r.prefix + "i:" + c.Session.ID, r.prefix + "h:" + c.Hash},
		r.prefix, c.Session.ID, c.User.ID, c.Ticket, v, ms(r.o.TTL), r.o.TTL.Microseconds()).Err()
	if err != nil {
		return r.fail(err, false)
	}
	return nil
}

// Ended implements session.Shared.
func (r *Redis) Ended(ctx context.Context, ids []string) error {
	if err := r.begin(ctx); err != nil {
		r.lost()
		return err
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, r.prefix, r.markTTL())
	for _, id := range ids {
		args = append(args, id)
	}
	if err := ended.Run(ctx, r.rdb, nil, args...).Err(); err != nil {
		return r.fail(err, true)
	}
	return nil
}

// UserChanged implements session.Shared.
func (r *Redis) UserChanged(ctx context.Context, userID string) error {
	if err := r.begin(ctx); err != nil {
		r.lost()
		return err
	}
	if err := mark.Run(ctx, r.rdb, []string{r.prefix + "u:" + userID}, r.markTTL()).Err(); err != nil {
		return r.fail(err, true)
	}
	return nil
}

// lost records a mark that was not written while the breaker was open.
func (r *Redis) lost() {
	r.mu.Lock()
	r.unmarked++
	r.mu.Unlock()
}
