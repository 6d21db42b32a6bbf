package password

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sync"

	"golang.org/x/crypto/argon2"
)

// ErrWorker means the hash worker processes could not hash: a worker
// failed and so did its replacement, none could start, or the Hasher was
// closed. The check did not happen. Callers answer "unavailable".
var ErrWorker = errors.New("password: hash worker failed")

// A request to a worker is a fixed header of six little-endian uint32
// (password length, salt length, iterations, memory KiB, parallelism, key
// length) followed by the password and the salt; the answer is the key.
const workerHeaderLen = 6 * 4

// Bounds a worker enforces on a request before it allocates anything, so a
// corrupted stream cannot make it allocate without limit.
const (
	workerMaxPassword = 4096
	workerMaxSalt     = 1024
	workerMaxKey      = 1024
	workerMaxTime     = 64
	workerMaxLanes    = 255
)

// workerRequest is the header of one request, as it travels.
type workerRequest struct {
	pwLen, saltLen, time, memory, lanes, keyLen uint32
}

func newWorkerRequest(password, salt []byte, p Params) workerRequest {
	n := func(b []byte) uint32 { return uint32(min(len(b), math.MaxUint32)) }
	return workerRequest{n(password), n(salt), p.Iterations, p.Memory, uint32(p.Parallelism), p.KeyLen}
}

func decodeWorkerRequest(h *[workerHeaderLen]byte) workerRequest {
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(h[4*i:]) }
	return workerRequest{u(0), u(1), u(2), u(3), u(4), u(5)}
}

// appendTo appends the encoded header to b.
func (r workerRequest) appendTo(b []byte) []byte {
	for _, v := range []uint32{r.pwLen, r.saltLen, r.time, r.memory, r.lanes, r.keyLen} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// inBounds reports whether a worker accepts r (memory up to maxMemory KiB).
func (r workerRequest) inBounds(maxMemory uint32) bool {
	return r.pwLen <= workerMaxPassword && r.saltLen <= workerMaxSalt && r.keyLen > 0 && r.keyLen <= workerMaxKey &&
		r.time > 0 && r.time <= workerMaxTime && r.lanes > 0 && r.lanes <= workerMaxLanes &&
		r.memory >= 8*r.lanes && r.memory <= maxMemory
}

// ServeWorker is the hash worker process: it reads requests from r,
// answers each with its argon2id key on w, and returns nil when r ends
// (the server closed the pipe or exited). A request outside the bounds
// (memory above maxMemory KiB among them) ends it with an error. It
// writes nothing else to w and never logs a password.
func ServeWorker(r io.Reader, w io.Writer, maxMemory uint32) error {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	var hdr [workerHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("hash worker: read: %w", err)
		}
		req := decodeWorkerRequest(&hdr)
		if !req.inBounds(maxMemory) {
			return errors.New("hash worker: request out of bounds")
		}
		buf := make([]byte, req.pwLen+req.saltLen)
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("hash worker: read: %w", err)
		}
		key := argon2.IDKey(buf[:req.pwLen], buf[req.pwLen:], req.time, req.memory, uint8(req.lanes), req.keyLen)
		clear(buf)
		if _, err := bw.Write(key); err != nil {
			return fmt.Errorf("hash worker: write: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("hash worker: write: %w", err)
		}
	}
}

// processPool computes argon2id keys in worker processes (ServeWorker run
// by the command of ProcessOptions) instead of in the server's own
// goroutines. A hash holds a core for tens of milliseconds: in-process,
// the Go scheduler lets such a goroutine keep its processor for up to
// 10-20 ms before anything else runs there, so while hashes fill every
// core each other request waits that long at every step. In a worker
// process the hash is one more thread for the kernel, which switches to a
// woken server thread at once, and the server's heap never holds the
// hash's memory.
//
// The pool starts a worker the first time one is needed and reuses it; a
// worker that fails is killed and replaced, and the hash tried again once.
// It is safe for concurrent use; the Hasher that owns it bounds how many
// hashes run at once, and the pool has one worker per Hasher worker.
type processPool struct {
	cmd []string
	env []string
	// maxMemory is the Hasher's bound; a request beyond any bound is
	// refused here, before it reaches (and ends) a worker.
	maxMemory uint32
	// idle holds one entry per worker slot: a running worker, or nil for
	// a slot whose worker is not started (yet, or any more).
	idle chan *worker

	mu      sync.Mutex
	running map[*worker]struct{}
	closed  bool
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// ProcessOptions tell a Hasher to hash in worker processes.
type ProcessOptions struct {
	// Command is the worker program and its arguments (the gatehouse
	// binary and "hash-worker"); empty means hashing in-process.
	Command []string
	// Env is the workers' environment (nil: this process's).
	Env []string
}

// newProcessPool returns a pool of size workers; no process starts until
// the first hash.
func newProcessPool(o ProcessOptions, size int, maxMemory uint32) *processPool {
	p := &processPool{cmd: o.Command, env: o.Env, maxMemory: maxMemory, idle: make(chan *worker, size), running: map[*worker]struct{}{}}
	for range size {
		p.idle <- nil
	}
	return p
}

// IDKey derives the argon2id key of password with salt and params in a
// worker. A worker that fails (it died since its last hash, say, killed by
// the kernel for memory) is replaced and the hash tried once more on the
// new one: deriving a key has no side effect, so the retry is safe.
// Errors wrap ErrWorker and never contain the password.
func (p *processPool) IDKey(password, salt []byte, params Params) ([]byte, error) {
	req := newWorkerRequest(password, salt, params)
	if !req.inBounds(p.maxMemory) {
		return nil, fmt.Errorf("%w: request out of bounds", ErrWorker)
	}
	w := <-p.idle
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if w == nil {
			if w, err = p.start(); err != nil {
				break
			}
		}
		var key []byte
		if key, err = w.derive(req, password, salt); err == nil {
			p.idle <- w
			return key, nil
		}
		p.stop(w)
		w = nil
		err = fmt.Errorf("%w: %v", ErrWorker, err)
	}
	p.idle <- nil
	return nil, err
}

func (p *processPool) start() (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("%w: pool closed", ErrWorker)
	}
	cmd := exec.Command(p.cmd[0], p.cmd[1:]...)
	cmd.Env = p.env
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorker, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorker, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start: %v", ErrWorker, err)
	}
	w := &worker{cmd: cmd, in: in, out: bufio.NewReader(out)}
	p.running[w] = struct{}{}
	return w, nil
}

// stop kills w and reaps it.
func (p *processPool) stop(w *worker) {
	p.mu.Lock()
	delete(p.running, w)
	p.mu.Unlock()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

func (w *worker) derive(req workerRequest, password, salt []byte) ([]byte, error) {
	msg := append(append(req.appendTo(make([]byte, 0, workerHeaderLen+len(password)+len(salt))), password...), salt...)
	_, err := w.in.Write(msg)
	clear(msg)
	if err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	key := make([]byte, req.keyLen)
	if _, err := io.ReadFull(w.out, key); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return key, nil
}

// Close ends every worker: it closes their input, so each exits after the
// hash it may be computing, and waits for them. Hashes asked for after
// Close fail.
func (p *processPool) Close() error {
	p.mu.Lock()
	p.closed = true
	ws := make([]*worker, 0, len(p.running))
	for w := range p.running {
		ws = append(ws, w)
	}
	p.running = map[*worker]struct{}{}
	p.mu.Unlock()
	var errs []error
	for _, w := range ws {
		_ = w.in.Close()
		if err := w.cmd.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
