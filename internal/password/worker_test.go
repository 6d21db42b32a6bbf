package password

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// workerEnv, set in a child started by these tests, turns the test binary
// into a hash worker (what `gatehouse hash-worker` is in production).
const workerEnv = "GATEHOUSE_TEST_HASH_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "die" {
		os.Exit(3) // a worker that fails at once, every time
	}
	if os.Getenv(workerEnv) == "1" {
		if err := ServeWorker(os.Stdin, os.Stdout, DefaultMaxMemory); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testProcesses starts workers as copies of the test binary with
// workerEnv=mode ("1" serves, "die" exits at once).
func testProcesses(t *testing.T, mode string) ProcessOptions {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ProcessOptions{Command: []string{exe}, Env: append(os.Environ(), workerEnv+"="+mode)}
}

// newPooledHasher is a test Hasher hashing in workers processes of mode;
// the test's end closes it.
func newPooledHasher(t *testing.T, workers int, mode string) *Hasher {
	h := newTestHasher(t, Options{Workers: workers, Processes: testProcesses(t, mode)})
	t.Cleanup(func() { h.Close() })
	return h
}

func workerRequestBytes(pw, salt []byte, p Params) []byte {
	return append(append(newWorkerRequest(pw, salt, p).appendTo(nil), pw...), salt...)
}

// The worker answers each request with exactly x/crypto's key, back to
// back on one stream, and stops cleanly at the end of its input.
func TestServeWorkerAnswersLikeXCrypto(t *testing.T) {
	cases := []struct {
		pw, salt string
		p        Params
	}{
		{"correct horse", "0123456789abcdef", cheapParams()},
		{"", "saltsaltsaltsalt", Params{Memory: 64, Iterations: 3, Parallelism: 2, KeyLen: 16}},
		{strings.Repeat("ü", 60), "another salt value", Params{Memory: 32, Iterations: 1, Parallelism: 4, KeyLen: 64}},
	}
	var in, want bytes.Buffer
	for _, c := range cases {
		in.Write(workerRequestBytes([]byte(c.pw), []byte(c.salt), c.p))
		want.Write(argon2.IDKey([]byte(c.pw), []byte(c.salt), c.p.Iterations, c.p.Memory, c.p.Parallelism, c.p.KeyLen))
	}
	var out bytes.Buffer
	if err := ServeWorker(&in, &out, DefaultMaxMemory); err != nil {
		t.Fatalf("ServeWorker: %v", err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("keys differ from x/crypto/argon2")
	}
}

// A request out of bounds ends the worker before it allocates, with no
// answer written; so does a request cut short.
func TestServeWorkerRefusesBadRequests(t *testing.T) {
	good := cheapParams()
	for name, req := range map[string][]byte{
		"memory above max": workerRequestBytes([]byte("pw"), []byte("salt-salt"), Params{Memory: DefaultMaxMemory + 1, Iterations: 1, Parallelism: 1, KeyLen: 32}),
		"zero iterations":  workerRequestBytes([]byte("pw"), []byte("salt-salt"), Params{Memory: 64, Iterations: 0, Parallelism: 1, KeyLen: 32}),
		"zero key":         workerRequestBytes([]byte("pw"), []byte("salt-salt"), Params{Memory: 64, Iterations: 1, Parallelism: 1, KeyLen: 0}),
		"memory below 8p":  workerRequestBytes([]byte("pw"), []byte("salt-salt"), Params{Memory: 8, Iterations: 1, Parallelism: 4, KeyLen: 32}),
		"huge password":    workerRequestBytes(make([]byte, workerMaxPassword+1), []byte("salt-salt"), good),
		"truncated body":   workerRequestBytes([]byte("password"), []byte("salt-salt"), good)[:workerHeaderLen+3],
		"truncated header": workerRequestBytes([]byte("pw"), []byte("salt-salt"), good)[:workerHeaderLen-1],
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ServeWorker(bytes.NewReader(req), &out, DefaultMaxMemory); err == nil {
				t.Fatal("ServeWorker accepted a bad request")
			}
			if out.Len() != 0 {
				t.Fatalf("worker wrote %d bytes for a bad request", out.Len())
			}
		})
	}
}

// Hashes made through worker processes verify in-process and the other
// way round: the pool changes where the work runs, not its result.
func TestHasherWithProcessPool(t *testing.T) {
	pooled := newPooledHasher(t, 2, "1")
	local := newTestHasher(t, Options{Workers: 2})
	ctx := context.Background()

	enc, err := pooled.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatalf("Hash through the pool: %v", err)
	}
	for name, h := range map[string]*Hasher{"pooled": pooled, "local": local} {
		if ok, _, err := h.Verify(ctx, "correct horse battery", enc); err != nil || !ok {
			t.Fatalf("%s Verify of the right password = %v, %v", name, ok, err)
		}
		if ok, _, err := h.Verify(ctx, "wrong horse battery", enc); err != nil || ok {
			t.Fatalf("%s Verify of a wrong password = %v, %v", name, ok, err)
		}
	}
	enc2, err := local.Hash(ctx, "staple")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := pooled.Verify(ctx, "staple", enc2); err != nil || !ok {
		t.Fatalf("pooled Verify of a local hash = %v, %v", ok, err)
	}
	if err := pooled.VerifyDummy(ctx, "anything"); err != nil {
		t.Fatalf("VerifyDummy through the pool: %v", err)
	}
}

// A worker that died since its last hash is replaced and the hash runs
// on the new one, unseen by the caller.
func TestProcessPoolReplacesADeadWorker(t *testing.T) {
	h := newPooledHasher(t, 1, "1")
	pool := h.pool
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw one")
	if err != nil {
		t.Fatal(err)
	}

	w := <-pool.idle
	if w == nil {
		t.Fatal("no worker running after a hash")
	}
	pid := w.cmd.Process.Pid
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Wait() // reaped here; the pool's own Wait then fails, which it ignores
	pool.idle <- w

	if ok, _, err := h.Verify(ctx, "pw one", enc); err != nil || !ok {
		t.Fatalf("Verify after the worker died = %v, %v; want a fresh worker to answer", ok, err)
	}
	if ok, _, err := h.Verify(ctx, "pw two", enc); err != nil || ok {
		t.Fatalf("Verify of a wrong password after the worker died = %v, %v", ok, err)
	}
	w = <-pool.idle
	if w == nil || w.cmd.Process.Pid == pid {
		t.Fatalf("the dead worker was not replaced")
	}
	pool.idle <- w
}

// Workers that cannot hash fail the call with ErrWorker: never a match,
// never a wrong-password answer. So does a command that cannot start.
func TestProcessPoolFailingWorkers(t *testing.T) {
	ctx := context.Background()
	local := newTestHasher(t, Options{})
	enc, err := local.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for name, procs := range map[string]ProcessOptions{"dying": testProcesses(t, "die"), "missing": {Command: []string{"/nonexistent/gatehouse"}}} {
		h := newTestHasher(t, Options{Workers: 1, Processes: procs})
		for range 2 { // the slot is usable again after a failure
			if ok, _, err := h.Verify(ctx, "pw", enc); !errors.Is(err, ErrWorker) || ok {
				t.Fatalf("%s workers: Verify = %v, %v; want false, ErrWorker", name, ok, err)
			}
			if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrWorker) {
				t.Fatalf("%s workers: Hash error %v, want ErrWorker", name, err)
			}
		}
		if err := h.Close(); err != nil {
			t.Fatalf("%s workers: Close: %v", name, err)
		}
	}
}

// Close ends the workers (they exit on end of input) and later hashes fail.
func TestProcessPoolClose(t *testing.T) {
	h := newPooledHasher(t, 2, "1")
	pool := h.pool
	ctx := context.Background()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	w := <-pool.idle
	if w == nil {
		w = <-pool.idle
	}
	pool.idle <- w
	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if w.cmd.ProcessState == nil || !w.cmd.ProcessState.Exited() || w.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("worker state after Close: %v", w.cmd.ProcessState)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrWorker) {
		t.Fatalf("Hash after Close: %v, want ErrWorker", err)
	}
}

// A request no worker would accept fails with ErrWorker before it reaches
// one: the worker that would have received it is not ended.
func TestProcessPoolRefusesOutOfBoundsRequests(t *testing.T) {
	h := newPooledHasher(t, 1, "1")
	ctx := context.Background()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	w := <-h.pool.idle
	h.pool.idle <- w
	if _, err := h.Hash(ctx, strings.Repeat("x", workerMaxPassword+1)); !errors.Is(err, ErrWorker) {
		t.Fatalf("Hash of an oversized password: %v, want ErrWorker", err)
	}
	if got := <-h.pool.idle; got != w || w.cmd.ProcessState != nil {
		t.Fatal("the worker was replaced for a request it never saw")
	} else {
		h.pool.idle <- got
	}
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatalf("Hash after the refusal: %v", err)
	}
}
