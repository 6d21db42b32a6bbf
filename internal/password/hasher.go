package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// ErrBusy is returned without hashing when all workers are busy and the
// queue of waiting callers is full (at once), or when a waiter was passed
// over by newer callers once per worker (after about one hash). Callers
// should answer "try again later" (Gatehouse answers 429 with
// Retry-After) rather than an authentication failure. The Hasher returns
// it as a *BusyError, whose advised wait RetryAfter reads.
var ErrBusy = errors.New("password hashing queue is full")

// Options configure a Hasher. The zero value is usable: DefaultParams, one
// worker per CPU, a queue of four callers per worker, 1 GiB MaxMemory.
type Options struct {
	// Params for new hashes and for the dummy hash. The zero value means
	// DefaultParams(). Must pass Params.Validate unless AllowWeakParams.
	Params Params
	// Workers is how many hashes may run at once; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Queue is how many callers may wait for a worker; 0 means 4*Workers
	// (four waiters per worker). A caller arriving when Queue callers
	// already wait gets ErrBusy at once. A freed worker goes to the newest
	// waiter, and a waiter passed over Workers times gets ErrBusy, so an
	// admitted caller waits at most about one hash before its own (see
	// gate).
	Queue int
	// MaxMemory is the largest argon2id memory cost, in KiB, that Verify
	// will compute for a stored hash (hashes from older settings or other
	// systems may differ from Params). 0 means DefaultMaxMemory (1 GiB).
	MaxMemory uint32
	// Processes, when its Command is set, computes argon2id keys in
	// Workers worker processes instead of this process's goroutines (see
	// processPool); Close ends them. bcrypt and legacy hashes are still
	// checked here.
	Processes ProcessOptions
	// AllowWeakParams skips the production floor of Params.Validate, still
	// requiring parameters argon2id can compute within MaxMemory. It exists
	// so tests can hash in microseconds; configuration must never set it.
	AllowWeakParams bool
}

// Hasher hashes and verifies passwords through a bounded pool: at most
// Workers hashes run at once, so hashing memory peaks at Workers times the
// memory cost of the hashes being computed (Workers*Params.Memory for
// Gatehouse's own hashes, never more than Workers*MaxMemory; a hash with
// parallelism p keeps p cores busy while it runs); at most Queue
// callers wait for a worker, and a freed worker goes to the newest of them;
// any further caller gets ErrBusy at once, as does a waiter passed over
// Workers times, so a login flood cannot pile up goroutines or memory and
// no admitted caller waits much longer than one hash (gate). A caller
// whose context ends while waiting gets the context's error; a hash, once
// started, runs to completion.
//
// A Hasher is safe for concurrent use. Build one in app and share it.
type Hasher struct {
	params Params
	limits parseLimits
	// gate admits at most Workers hashes at once and queues or refuses
	// the rest.
	gate *gate
	// dummy is an argon2id hash string with params, a random salt and a
	// random key; VerifyDummy recomputes it (the work of a real Verify)
	// and matches nothing.
	dummy *argon2Hash
	// dummyRuns counts dummy computations (tests prove the padding runs).
	dummyRuns atomic.Int64
	// derive computes argon2id keys (idKey, or pool's IDKey).
	derive deriveFunc
	// pool runs the hashes in worker processes (nil: in-process).
	pool *processPool
	// beforeWork, when set, runs inside a worker slot before each hash.
	// Tests use it to hold a slot deterministically.
	beforeWork func()
}

// NewHasher validates o, fills in defaults and makes the dummy hash with
// the production parameters (without hashing), so every later VerifyDummy
// costs what a real Verify does (L6-L8).
func NewHasher(o Options) (*Hasher, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams()
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.Workers < 0 {
		return nil, fmt.Errorf("password: workers %d is negative", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Queue < 0 {
		return nil, fmt.Errorf("password: queue %d is negative", o.Queue)
	}
	if o.Queue == 0 {
		o.Queue = 4 * o.Workers
	}
	if o.AllowWeakParams {
		if err := o.Params.check(hardLimits(o.MaxMemory)); err != nil {
			return nil, err
		}
	} else if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	if o.Params.Memory > o.MaxMemory {
		return nil, fmt.Errorf("password: memory %d KiB is above max memory %d KiB, new hashes could not be verified", o.Params.Memory, o.MaxMemory)
	}

	h := &Hasher{
		params: o.Params,
		limits: parseLimits{maxMemory: o.MaxMemory, maxBcryptCost: maxBcryptCost},
		gate:   newGate(o.Workers, o.Queue, nil),
		derive: idKey,
	}
	if len(o.Processes.Command) > 0 {
		h.pool = newProcessPool(o.Processes, o.Workers, o.MaxMemory)
		h.derive = h.pool.IDKey
	}

	// The dummy has the real parameters and a fresh salt, so verifying a
	// password against it runs exactly the argon2id work of a real
	// Verify; its key is random bytes, the hash of no password, so it
	// matches nothing. No hash is computed here: start-up stays fast and
	// leaves no argon2id memory behind.
	salt, err := h.newSalt()
	if err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	p := h.params
	key := make([]byte, p.KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	// Round-trip through the strict parser: proves that hashes made with
	// these params are accepted by Verify under these limits.
	h.dummy, err = parseArgon2id(encodeArgon2id(p, salt, key), h.limits.maxMemory)
	if err != nil {
		return nil, fmt.Errorf("password: dummy hash does not parse: %w", err)
	}
	return h, nil
}

// Close ends the worker processes, if any: each exits after the hash it
// may be computing. Hashes asked for after Close fail with ErrWorker.
func (h *Hasher) Close() error {
	if h.pool == nil {
		return nil
	}
	return h.pool.Close()
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns a PHC string for password with a fresh random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, salt and key in unpadded
// standard base64. Errors are ErrBusy, the context's error while waiting,
// or a failing system random source; the password never appears in them.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt, err := h.newSalt()
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	p := h.params
	var key []byte
	err = h.run(ctx, func() error {
		var err error
		key, err = h.derive([]byte(password), salt, p)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return encodeArgon2id(p, salt, key), nil
}

// Verify reports whether password matches encoded, a hash in any supported
// format (argon2id PHC, bcrypt $2a$/$2b$/$2y$, legacy hmac-sha256), compared
// in constant time. needsRehash is true when ok and encoded is not argon2id
// with exactly the Hasher's Params: the caller should then store a fresh
// Hash of the password, which upgrades bcrypt and legacy hashes at the
// next login (P1, U2).
//
// A wrong password is ok == false with a nil error. An error means the
// check did not happen: ErrBusy, the context's error while waiting, or a
// stored hash that is unusable (ErrUnknownFormat, ErrMalformedHash,
// ErrUnsupportedParams); parse errors return at once, without hashing.
//
// Legacy HMAC hashes cost microseconds to check, so Verify also recomputes
// the dummy hash for them: a login to an imported legacy account then takes
// as long as one to an unknown account.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := parseHash(encoded, h.limits)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	_, legacy := stored.(*legacyHash)
	err = h.run(ctx, func() error {
		var err error
		if ok, err = stored.matches(h.derive, password); err != nil {
			return err
		}
		if legacy {
			return h.padDummy(password)
		}
		return nil
	})
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		return false, false, nil
	}
	return true, !stored.current(h.params), nil
}

// VerifyDummy spends what a Verify of a current argon2id hash spends, in
// the same pool, and matches nothing. Call it for unknown, locked or
// suspended users so that every failed login takes equal time (L6-L8). It
// returns only the pool's errors (ErrBusy, the context's error), which the
// caller must treat like a Verify error.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	err := h.run(ctx, func() error { return h.padDummy(password) })
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	return nil
}

// padDummy recomputes the dummy hash, the timing equaliser, and counts it.
func (h *Hasher) padDummy(password string) error {
	h.dummyRuns.Add(1)
	_, err := h.dummy.matches(h.derive, password)
	return err
}

// Busy returns the refusal (a *BusyError, which is ErrBusy) that a hash
// asked for now would get, every worker busy and the queue full, or nil.
// It is a hint that may change at once (run still decides), for callers
// that would do costly work, such as a database read, before asking for
// the hash; a refusal returned here counts as one.
func (h *Hasher) Busy() error {
	return h.gate.busy()
}

// Stats returns how many hashes are running and how many callers wait for
// a worker, for metrics.
func (h *Hasher) Stats() (running, waiting int) {
	return h.gate.stats()
}

// run executes work in a worker slot, admitted by the gate: at once when a
// slot is free, after a wait in the queue, or not at all (ErrBusy, or the
// context's error while waiting).
func (h *Hasher) run(ctx context.Context, work func() error) error {
	if err := h.gate.acquire(ctx); err != nil {
		return err
	}
	defer h.gate.release()
	if h.beforeWork != nil {
		h.beforeWork()
	}
	return work()
}

func (h *Hasher) newSalt() ([]byte, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return salt, nil
}
