package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cheapParams hash in well under a millisecond; only for tests.
func cheapParams() Params {
	return Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// newTestHasher builds a Hasher with cheapParams unless o.Params is set.
func newTestHasher(t testing.TB, o Options) *Hasher {
	t.Helper()
	if o.Params == (Params{}) {
		o.Params = cheapParams()
	}
	o.AllowWeakParams = true
	h, err := NewHasher(o)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashVerifyDefaultParams(t *testing.T) {
	h, err := NewHasher(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("Hash = %q, not the PHC shape", enc)
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(ctx, "correct horse battery stapler", enc)
	if err != nil || ok || rehash {
		t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
	if err := h.VerifyDummy(ctx, "anything"); err != nil {
		t.Fatal(err)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	passwords := []string{"secret123", "", "ü𝄞 unicode ✓", strings.Repeat("long", 300), "with\x00nul"}
	for _, pw := range passwords {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSupportedHash(enc) {
			t.Fatalf("IsSupportedHash(own hash) = false: %s", enc)
		}
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if err != nil || !ok || rehash {
			t.Errorf("Verify(%.20q) = %v, %v, %v; want true, false, nil", pw, ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, pw+"!", enc)
		if err != nil || ok {
			t.Errorf("Verify(%.20q + !) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	a, _ := h.Hash(ctx, "same")
	b, _ := h.Hash(ctx, "same")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, Options{})
	enc, err := old.Hash(ctx, "secret123")
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Params)) Params {
		p := cheapParams()
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		params Params
		rehash bool
	}{
		{"same params", cheapParams(), false},
		{"more memory", with(func(p *Params) { p.Memory = 128 }), true},
		{"more iterations", with(func(p *Params) { p.Iterations = 2 }), true},
		{"more lanes", with(func(p *Params) { p.Parallelism = 2 }), true},
		{"longer salt", with(func(p *Params) { p.SaltLen = 32 }), true},
		{"shorter key", with(func(p *Params) { p.KeyLen = 16 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHasher(t, Options{Params: tt.params})
			ok, rehash, err := h.Verify(ctx, "secret123", enc)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			ok, rehash, err = h.Verify(ctx, "secret12", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil (no rehash on failure)", ok, rehash, err)
			}
		})
	}
}

func TestNewHasherOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" means success
	}{
		{"weak params refused by default", Options{Params: cheapParams()}, "memory 64 KiB is below 8192"},
		{"weak params allowed", Options{Params: cheapParams(), AllowWeakParams: true}, ""},
		{"weak still must be computable", Options{Params: Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true}, "iterations 0 is below 1"},
		{"negative workers", Options{Params: cheapParams(), AllowWeakParams: true, Workers: -1}, "workers -1"},
		{"negative queue", Options{Params: cheapParams(), AllowWeakParams: true, Queue: -1}, "queue -1"},
		{"params above max memory", Options{Params: cheapParams(), AllowWeakParams: true, MaxMemory: 32}, "above 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHasher(tt.o)
			if tt.want == "" {
				if err != nil || h == nil {
					t.Fatalf("NewHasher = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewHasher err = %v, want it to contain %q", err, tt.want)
			}
		})
	}

	h := newTestHasher(t, Options{Workers: 3})
	if h.gate.slots != 3 || h.gate.queue != 12 {
		t.Fatalf("workers %d queue %d, want 3 and default 12 (four waiters per worker)", h.gate.slots, h.gate.queue)
	}
	if h.Params() != cheapParams() {
		t.Fatalf("Params() = %+v", h.Params())
	}
}

// blockingHasher returns a Hasher whose every hash waits, inside its worker
// slot, until release is closed; entered receives once per hash started.
func blockingHasher(t *testing.T, workers, queue int) (h *Hasher, entered chan struct{}, release chan struct{}) {
	t.Helper()
	h = newTestHasher(t, Options{Workers: workers, Queue: queue})
	entered = make(chan struct{}, 16)
	release = make(chan struct{})
	h.beforeWork = func() {
		entered <- struct{}{}
		<-release
	}
	return h, entered, release
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolRejectsWhenQueueFull(t *testing.T) {
	h, entered, release := blockingHasher(t, 1, 1)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // A: takes the only worker and blocks in it
		defer wg.Done()
		_, err := h.Hash(ctx, "a")
		errs <- err
	}()
	<-entered
	go func() { // B: waits in the queue
		defer wg.Done()
		_, _, err := h.Verify(ctx, "b", LegacyHMAC("salt", "b"))
		errs <- err
	}()
	waitFor(t, "one waiter", func() bool { _, w := h.Stats(); return w == 1 })
	if r, w := h.Stats(); r != 1 || w != 1 {
		t.Fatalf("Stats = %d running, %d waiting; want 1, 1", r, w)
	}

	if err := h.Busy(); !errors.Is(err, ErrBusy) {
		t.Fatalf("Busy() = %v with the worker busy and the queue full, want ErrBusy", err)
	}
	// C, D, E: the queue is full, so each is turned away at once.
	start := time.Now()
	if _, err := h.Hash(ctx, "c"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with full queue = %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(ctx, "d", LegacyHMAC("salt", "d")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with full queue = %v, want ErrBusy", err)
	}
	if err := h.VerifyDummy(ctx, "e"); !errors.Is(err, ErrBusy) {
		t.Fatalf("VerifyDummy with full queue = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ErrBusy took %v, want immediate", d)
	}

	close(release)
	wg.Wait()
	if err := h.Busy(); err != nil {
		t.Fatalf("Busy() = %v with the pool idle", err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("queued call failed: %v", err)
		}
	}
	if r, w := h.Stats(); r != 0 || w != 0 {
		t.Fatalf("Stats after = %d, %d; want 0, 0", r, w)
	}
}

func TestPoolWaitHonoursContext(t *testing.T) {
	h, entered, release := blockingHasher(t, 1, 1)
	defer close(release)
	go func() { _, _ = h.Hash(context.Background(), "a") }()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "b")
		errc <- err
	}()
	waitFor(t, "one waiter", func() bool { _, w := h.Stats(); return w == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled waiter did not return")
	}
	if _, w := h.Stats(); w != 0 {
		t.Fatalf("waiting = %d after cancel, want 0", w)
	}

	// A deadline behaves the same way, and an already-ended context
	// returns before even looking at the pool.
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	if _, _, err := h.Verify(dctx, "c", LegacyHMAC("s", "c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify past deadline = %v, want DeadlineExceeded", err)
	}
	if err := h.VerifyDummy(ctx, "d"); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyDummy with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	const workers, callers = 2, 24
	h := newTestHasher(t, Options{Workers: workers, Queue: callers})
	var cur, peak atomic.Int32
	h.beforeWork = func() {
		raisePeak(&peak, cur.Add(1))
		time.Sleep(time.Millisecond)
		cur.Add(-1)
	}
	var wg sync.WaitGroup
	var done, busy atomic.Int32
	for i := range callers {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), "pw")
			} else {
				err = h.VerifyDummy(context.Background(), "pw")
			}
			switch {
			case err == nil:
				done.Add(1)
			case errors.Is(err, ErrBusy): // passed over by newer callers
				busy.Add(1)
			default:
				t.Errorf("call failed: %v", err)
			}
		})
	}
	wg.Wait()
	if done.Load() < workers {
		t.Fatalf("%d calls hashed (%d busy), want at least one per worker", done.Load(), busy.Load())
	}
	if p := peak.Load(); p > workers || p < 1 {
		t.Fatalf("peak concurrent hashes = %d, want 1..%d", p, workers)
	}
}

func TestVerifyDummyNeverMatches(t *testing.T) {
	h := newTestHasher(t, Options{})
	for _, pw := range []string{"", "password", "secret123"} {
		if err := h.VerifyDummy(context.Background(), pw); err != nil {
			t.Fatal(err)
		}
		if ok, err := h.dummy.matches(idKey, pw); err != nil || ok {
			t.Fatalf("dummy hash matches %q: %v, %v", pw, ok, err)
		}
	}
	if h.dummy.params != h.Params() {
		t.Fatalf("dummy params %+v differ from production %+v", h.dummy.params, h.Params())
	}
}

// TestLegacyVerifyCostsAnArgon2Hash checks the timing equaliser by counting
// work, not time: a legacy verify also recomputes the production-parameter
// dummy hash, an argon2id verify does not need to.
func TestLegacyVerifyCostsAnArgon2Hash(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	argon, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func()
		want int64
	}{
		{"legacy verify, right password", func() { _, _, _ = h.Verify(ctx, "pw", LegacyHMAC("salt", "pw")) }, 1},
		{"legacy verify, wrong password", func() { _, _, _ = h.Verify(ctx, "nope", LegacyHMAC("salt", "pw")) }, 1},
		{"dummy verify", func() { _ = h.VerifyDummy(ctx, "pw") }, 1},
		{"argon2id verify", func() { _, _, _ = h.Verify(ctx, "pw", argon) }, 0},
	}
	for _, c := range cases {
		before := h.dummyRuns.Load()
		c.run()
		if got := h.dummyRuns.Load() - before; got != c.want {
			t.Errorf("%s: %d dummy hashes, want %d", c.name, got, c.want)
		}
	}
}
