package password

import (
	"context"
	"slices"
	"sync"
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
// it needs no clock and no estimate of how long a hash takes.
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
}

type waiter struct {
	// grant receives once: true hands the caller a slot, false refuses it.
	grant  chan bool
	passed int
}

func newGate(slots, queue int) *gate {
	return &gate{slots: slots, queue: queue, free: slots}
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
		g.mu.Unlock()
		return nil
	}
	if len(g.waiters) >= g.queue {
		g.mu.Unlock()
		return ErrBusy
	}
	w := &waiter{grant: make(chan bool, 1)}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	select {
	case ok := <-w.grant:
		if !ok {
			return ErrBusy
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
	var refused []*waiter
	if cut > 0 {
		refused = slices.Clone(g.waiters[:cut])
		g.waiters = slices.Delete(g.waiters, 0, cut)
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

// saturated reports whether acquire would return ErrBusy now.
func (g *gate) saturated() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.free == 0 && len(g.waiters) >= g.queue
}
