package password

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// gate admits callers to a fixed number of worker slots. A caller takes a
// free slot at once. When none is free it waits, if fewer than queue
// callers already wait; otherwise it is refused at once (ErrBusy).
//
// A freed slot goes to the newest waiter, not the oldest. Under overload
// the queue is never empty, and serving it in arrival order would make
// every admitted caller wait the whole queue (with one waiter per worker,
// a whole hash) before its own hash. Served newest first, most waits end
// at the next free slot, while the workers still never idle as long as
// anyone waits. Each time a slot goes to someone else, every remaining
// waiter counts one pass; a waiter passed over as many times as there are
// slots (about one hash's time with every worker busy) is refused with
// ErrBusy, so no admitted caller waits much longer than that, and none
// waits forever behind newer arrivals. This is the "adaptive LIFO" of
// overloaded servers, with a bound counted in hashes rather than in time:
// the bound needs no clock and no estimate of how long a hash takes.
//
// A refusal carries advice on when to come back (BusyError.RetryAfter,
// sent as Retry-After). Under a sustained flood the same callers are
// refused again and again: told to come back in one second, they return
// together and most are refused once more, and each refusal costs a
// request's work on both sides. So the advice follows the refusals, one
// second at a time: after a second in which the gate refused more callers
// than it let through, it advises one second more (up to maxRetryAfter);
// after a second in which it refused fewer than half as many (or none),
// one second less (down to one). A flood thus settles where each caller
// is refused about once per hash it gets; a burst costs a few seconds of
// longer advice, and a quiet pool advises one second.
type gate struct {
	// slots is how many callers may hold a slot at once, and also how
	// many passes refuse a waiter.
	slots int
	queue int

	mu   sync.Mutex
	free int
	// waiters is oldest first. An older waiter has been passed over at
	// least as often as a newer one, so the refused are always a prefix.
	waiters []*waiter

	now func() time.Time
	// sec is the Unix second whose grants and refusals are being
	// counted; retry is the advice, in seconds, that the seconds before
	// it produced.
	sec              int64
	granted, refused int
	retry            int
}

// maxRetryAfter bounds the advised wait, in seconds.
const maxRetryAfter = 10

type waiter struct {
	// grant receives once: true hands the caller a slot, false refuses it
	// (with refusal set first).
	grant   chan bool
	passed  int
	refusal *BusyError
}

func newGate(slots, queue int, now func() time.Time) *gate {
	if now == nil {
		now = time.Now
	}
	return &gate{slots: slots, queue: queue, free: slots, now: now, retry: 1}
}

// BusyError is the ErrBusy of a refusal, with the advised wait before
// trying again. errors.Is(err, ErrBusy) holds for it.
type BusyError struct {
	RetryAfter time.Duration
}

func (e *BusyError) Error() string        { return ErrBusy.Error() }
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// RetryAfter is the wait advised by an ErrBusy refusal in err's chain: one
// second when err carries no advice.
func RetryAfter(err error) time.Duration {
	if be, ok := errors.AsType[*BusyError](err); ok && be.RetryAfter > 0 {
		return be.RetryAfter
	}
	return time.Second
}

// rollLocked moves the counters to the current second, first adjusting
// the advice for each second that has ended since the last call (a second
// without events counts as one without refusals).
func (g *gate) rollLocked() {
	sec := g.now().Unix()
	if sec <= g.sec {
		return
	}
	switch {
	case g.refused > g.granted:
		g.retry = min(g.retry+1, maxRetryAfter)
	case 2*g.refused < g.granted || g.refused == 0:
		g.retry = max(g.retry-1, 1)
	}
	// Quiet seconds in between.
	g.retry = max(g.retry-int(min(sec-g.sec-1, maxRetryAfter)), 1)
	g.sec, g.granted, g.refused = sec, 0, 0
}

// grantLocked counts one grant.
func (g *gate) grantLocked() {
	g.rollLocked()
	g.granted++
}

// refuseLocked counts n refusals and returns the error they get.
func (g *gate) refuseLocked(n int) *BusyError {
	g.rollLocked()
	g.refused += n
	return &BusyError{RetryAfter: time.Duration(g.retry) * time.Second}
}

// acquire takes a slot, waiting for one if the queue has room. It returns
// ErrBusy when the queue is full or the caller was passed over too often,
// and the context's error when ctx ends first. After a nil return the
// caller must call release once.
func (g *gate) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.grantLocked()
		g.mu.Unlock()
		return nil
	}
	if len(g.waiters) >= g.queue {
		err := g.refuseLocked(1)
		g.mu.Unlock()
		return err
	}
	w := &waiter{grant: make(chan bool, 1)}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	select {
	case ok := <-w.grant:
		if !ok {
			return w.refusal
		}
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if i := slices.Index(g.waiters, w); i >= 0 {
		g.waiters = slices.Delete(g.waiters, i, i+1)
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	// release decided for w while ctx ended: a slot it was handed goes
	// on to the next waiter.
	if <-w.grant {
		g.release()
	}
	return ctx.Err()
}

// release frees a slot: it goes to the newest waiter, every other waiter
// counts a pass, and those passed over g.slots times are refused.
func (g *gate) release() {
	g.mu.Lock()
	n := len(g.waiters)
	if n == 0 {
		g.free++
		g.mu.Unlock()
		return
	}
	next := g.waiters[n-1]
	g.waiters[n-1] = nil
	g.waiters = g.waiters[:n-1]
	cut := 0
	for i, w := range g.waiters {
		w.passed++
		if w.passed >= g.slots {
			cut = i + 1
		}
	}
	g.grantLocked()
	var refused []*waiter
	if cut > 0 {
		refused = slices.Clone(g.waiters[:cut])
		g.waiters = slices.Delete(g.waiters, 0, cut)
		err := g.refuseLocked(cut)
		for _, w := range refused {
			w.refusal = err
		}
	}
	g.mu.Unlock()
	next.grant <- true
	for _, w := range refused {
		w.grant <- false
	}
}

// stats returns the slots in use and the callers waiting, as one snapshot.
func (g *gate) stats() (running, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.slots - g.free, len(g.waiters)
}

// busy returns the refusal acquire would return at once now (counted as
// one), or nil when acquire would take a slot or wait.
func (g *gate) busy() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free == 0 && len(g.waiters) >= g.queue {
		return g.refuseLocked(1)
	}
	return nil
}
