package password

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// queueWaiter starts acquire in a goroutine and waits until the gate
// counts it as waiting (waiting callers before it: before). Its result
// arrives on the returned channel.
func queueWaiter(t *testing.T, g *gate, ctx context.Context, before int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.acquire(ctx) }()
	waitFor(t, "a new waiter", func() bool { _, w := g.stats(); return w == before+1 })
	return done
}

// result returns what a waiter got, failing if it has not decided.
func result(t *testing.T, name string, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waiting", name)
		return nil
	}
}

// pending reports whether a waiter is still undecided, after giving it a
// moment to answer.
func pending(c <-chan error) bool {
	select {
	case <-c:
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

func TestGateServesTheNewestWaiterFirst(t *testing.T) {
	ctx := context.Background()
	g := newGate(2, 3, nil)
	for range 2 {
		if err := g.acquire(ctx); err != nil {
			t.Fatalf("free slot: %v", err)
		}
	}
	a := queueWaiter(t, g, ctx, 0)
	b := queueWaiter(t, g, ctx, 1)
	c := queueWaiter(t, g, ctx, 2)
	if err := g.acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("acquire with the queue full = %v, want ErrBusy at once", err)
	}

	g.release() // C, the newest, gets the slot; A and B are passed over once
	if err := result(t, "C", c); err != nil {
		t.Fatalf("newest waiter = %v, want the freed slot", err)
	}
	if !pending(a) || !pending(b) {
		t.Fatal("older waiters decided after one pass; with 2 slots they may wait for two")
	}
	d := queueWaiter(t, g, ctx, 2)

	g.release() // D gets it; A and B were passed over twice (the slot count) and are refused
	if err := result(t, "D", d); err != nil {
		t.Fatalf("newest waiter = %v, want the freed slot", err)
	}
	for name, ch := range map[string]<-chan error{"A": a, "B": b} {
		if err := result(t, name, ch); !errors.Is(err, ErrBusy) {
			t.Fatalf("%s passed over twice = %v, want ErrBusy", name, err)
		}
	}
	if r, w := g.stats(); r != 2 || w != 0 {
		t.Fatalf("stats = %d running, %d waiting; want 2, 0", r, w)
	}
	g.release()
	g.release()
	if r, w := g.stats(); r != 0 || w != 0 || g.busy() != nil {
		t.Fatalf("after releasing all: stats = %d, %d, busy %v", r, w, g.busy())
	}
}

func TestGateOneSlotRefusesAWaiterPassedOverOnce(t *testing.T) {
	ctx := context.Background()
	g := newGate(1, 2, nil)
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	a := queueWaiter(t, g, ctx, 0)
	b := queueWaiter(t, g, ctx, 1)
	if err := g.busy(); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy() = %v with the slot taken and the queue full, want ErrBusy", err)
	}
	g.release()
	if err := result(t, "B", b); err != nil {
		t.Fatalf("newest = %v, want the slot", err)
	}
	if err := result(t, "A", a); !errors.Is(err, ErrBusy) {
		t.Fatalf("passed over once with one slot = %v, want ErrBusy", err)
	}
	// A lone waiter is the newest: it gets the next slot however long it
	// has waited.
	c := queueWaiter(t, g, ctx, 0)
	g.release()
	if err := result(t, "C", c); err != nil {
		t.Fatalf("lone waiter = %v, want the slot", err)
	}
	g.release()
	if r, w := g.stats(); r != 0 || w != 0 {
		t.Fatalf("stats = %d, %d; want 0, 0", r, w)
	}
}

func TestGateCancelledWaiterLeavesTheQueue(t *testing.T) {
	g := newGate(1, 2, nil)
	if err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := queueWaiter(t, g, ctx, 0)
	b := queueWaiter(t, g, context.Background(), 1)
	cancel()
	if err := result(t, "A", a); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter = %v, want context.Canceled", err)
	}
	if _, w := g.stats(); w != 1 {
		t.Fatalf("waiting = %d after a cancel, want 1", w)
	}
	g.release()
	if err := result(t, "B", b); err != nil {
		t.Fatalf("remaining waiter = %v, want the slot", err)
	}
	g.release()
	if err := g.acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with an ended context = %v, want context.Canceled even with a free slot", err)
	}
}

// TestGateSlotGrantedAsContextEndsIsPassedOn hands a waiter the slot and
// ends its context at the same moment, as release and a cancellation can
// race: whichever the waiter sees first, the slot is either its own (nil)
// or given back, never lost.
func TestGateSlotGrantedAsContextEndsIsPassedOn(t *testing.T) {
	sawCancel := false
	for range 40 {
		g := newGate(1, 1, nil)
		if err := g.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		w := queueWaiter(t, g, ctx, 0)
		// What the test's release of its slot does for the newest
		// waiter, with the context ending before the waiter wakes up.
		g.mu.Lock()
		next := g.waiters[0]
		g.waiters = g.waiters[:0]
		cancel()
		next.grant <- true
		g.mu.Unlock()
		switch err := result(t, "waiter", w); {
		case err == nil:
			g.release() // the slot is the waiter's: give it back
		case errors.Is(err, context.Canceled):
			sawCancel = true // the waiter gave it back
		default:
			t.Fatalf("acquire = %v", err)
		}
		if r, wt := g.stats(); r != 0 || wt != 0 {
			t.Fatalf("stats = %d running, %d waiting; want 0, 0: the granted slot was lost", r, wt)
		}
	}
	if !sawCancel {
		t.Fatal("the waiter never saw its context end first in 40 tries")
	}
}

// raisePeak records n in peak if it is the largest seen so far.
func raisePeak(peak *atomic.Int32, n int32) {
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
}

// TestGateUnderChurn races acquires, releases and cancellations: the
// number of slots held never exceeds the slot count, and when every
// caller is done all slots are free and nobody waits (a slot granted to a
// waiter whose context ended at the same moment is passed on, not lost).
func TestGateUnderChurn(t *testing.T) {
	const slots, queue, callers = 3, 4, 400
	g := newGate(slots, queue, nil)
	var held, peak atomic.Int32
	var granted, refused, cancelled atomic.Int32
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
			defer cancel()
			if i%3 == 0 {
				ctx = context.Background()
			}
			time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
			err := g.acquire(ctx)
			switch {
			case err == nil:
				granted.Add(1)
				raisePeak(&peak, held.Add(1))
				time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				held.Add(-1)
				g.release()
			case errors.Is(err, ErrBusy):
				refused.Add(1)
			case errors.Is(err, context.DeadlineExceeded):
				cancelled.Add(1)
			default:
				t.Errorf("acquire = %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > slots {
		t.Fatalf("%d slots held at once, want at most %d", p, slots)
	}
	if r, w := g.stats(); r != 0 || w != 0 {
		t.Fatalf("after all callers: %d running, %d waiting; want 0, 0 (a slot leaked)", r, w)
	}
	if granted.Load() == 0 {
		t.Fatal("no caller got a slot")
	}
	t.Logf("granted %d, refused %d, cancelled %d", granted.Load(), refused.Load(), cancelled.Load())
	for range slots {
		if err := g.acquire(context.Background()); err != nil {
			t.Fatalf("a freed slot is missing: %v", err)
		}
	}
}

// fakeClock is a settable clock for the gate's advice.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestGateAdvisesLongerWaitsWhileRefusalsOutnumberGrants: the advised
// wait of a refusal is one second on a pool that mostly serves; it grows
// by a second after each second with more refusals than grants, holds
// while refusals are between half and all of the grants, never passes
// maxRetryAfter, and falls by a second after each second with fewer than
// half (quiet seconds included).
func TestGateAdvisesLongerWaitsWhileRefusalsOutnumberGrants(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	// One slot and no queue: every caller while the slot is held is
	// refused at once.
	g := newGate(1, 0, clk.now)
	// second grants n callers and refuses m+1 (the last by busy), returns
	// the advice of the refusals (0 when m is 0), and moves the clock on a
	// second.
	second := func(n, m int) time.Duration {
		t.Helper()
		defer func() { clk.t = clk.t.Add(time.Second) }()
		for range n - 1 {
			if err := g.acquire(ctx); err != nil {
				t.Fatalf("acquire with the slot free: %v", err)
			}
			g.release()
		}
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		defer g.release()
		var last time.Duration
		for range m {
			err := g.acquire(ctx)
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("acquire with the slot held and no queue = %v, want ErrBusy", err)
			}
			last = RetryAfter(err)
		}
		if err := g.busy(); m > 0 && RetryAfter(err) != last {
			t.Fatalf("busy() advises %v, acquire %v", RetryAfter(err), last)
		}
		return last
	}
	steps := []struct {
		what           string
		granted, refsd int
		want           time.Duration
	}{
		{"light load", 10, 1, time.Second},
		{"a flood's first second (advice still from the light second)", 10, 30, time.Second},
		{"after one flooded second", 10, 30, 2 * time.Second},
		{"after two", 10, 30, 3 * time.Second},
		// Refusals between half and all of the grants: hold.
		{"refused about as often as served", 10, 8, 4 * time.Second},
		{"holding", 10, 8, 4 * time.Second},
		{"fewer than half refused", 10, 3, 4 * time.Second},
		{"after a light second", 10, 1, 3 * time.Second},
	}
	for _, st := range steps {
		if got := second(st.granted, st.refsd); got != st.want {
			t.Fatalf("%s: advice %v, want %v", st.what, got, st.want)
		}
	}
	// A long flood reaches the cap and stays there.
	for range 2 * maxRetryAfter {
		second(1, 50)
	}
	if got := second(1, 50); got != maxRetryAfter*time.Second {
		t.Fatalf("a long flood: advice %v, want the cap %ds", got, maxRetryAfter)
	}
	// Three quiet seconds take three seconds off.
	clk.t = clk.t.Add(3 * time.Second)
	if got := second(1, 1); got != (maxRetryAfter-3)*time.Second {
		t.Fatalf("after the flood and three quiet seconds: advice %v, want %ds", got, maxRetryAfter-3)
	}
	clk.t = clk.t.Add(time.Hour)
	if got := second(1, 1); got != time.Second {
		t.Fatalf("an hour later: advice %v, want 1s", got)
	}
	// An error without advice advises one second.
	if got := RetryAfter(ErrBusy); got != time.Second {
		t.Fatalf("RetryAfter(ErrBusy) = %v, want 1s", got)
	}
}
