package password

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"golang.org/x/crypto/argon2"
)

// ErrWorker means a hash worker process failed (it could not start, or it
// died or answered wrongly mid-hash). The check did not happen; the worker
// is replaced at the next hash. Callers answer "unavailable".
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
		u := func(i int) uint32 { return binary.LittleEndian.Uint32(hdr[4*i:]) }
		pwLen, saltLen, t, m, lanes, keyLen := u(0), u(1), u(2), u(3), u(4), u(5)
		if pwLen > workerMaxPassword || saltLen > workerMaxSalt || keyLen == 0 || keyLen > workerMaxKey ||
			t == 0 || t > workerMaxTime || lanes == 0 || lanes > workerMaxLanes || m < 8*lanes || m > maxMemory {
			return errors.New("hash worker: request out of bounds")
		}
		buf := make([]byte, pwLen+saltLen)
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("hash worker: read: %w", err)
		}
		key := argon2.IDKey(buf[:pwLen], buf[pwLen:], t, m, uint8(lanes), keyLen)
		clear(buf)
		if _, err := bw.Write(key); err != nil {
			return fmt.Errorf("hash worker: write: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("hash worker: write: %w", err)
		}
	}
}

// ProcessPool computes argon2id keys in worker processes (ServeWorker run
// by Command) instead of in the server's own goroutines. A hash holds a
// core for tens of milliseconds: in-process, the Go scheduler lets such a
// goroutine keep its processor for up to 10-20 ms before anything else
// runs there, so while hashes fill every core each other request waits
// that long at every step. In a worker process the hash is one more thread
// for the kernel, which switches to a woken server thread at once, and the
// server's heap never holds the hash's memory.
//
// The pool starts a worker the first time one is needed and reuses it; a
// worker that fails is killed and replaced, and the hash tried again once.
// It is safe for concurrent use; the Hasher in front of it bounds how many
// hashes run at once, and the pool has that many workers.
type ProcessPool struct {
	cmd []string
	env []string
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

// PoolOptions configure a ProcessPool.
type PoolOptions struct {
	// Command is the worker program and its arguments (the gatehouse
	// binary and "hash-worker").
	Command []string
	// Env is the workers' environment (nil: this process's).
	Env []string
	// Size is the number of workers; it should equal the Hasher's Workers.
	Size int
}

// NewProcessPool returns a pool; no process starts until the first hash.
func NewProcessPool(o PoolOptions) (*ProcessPool, error) {
	if len(o.Command) == 0 {
		return nil, errors.New("password: process pool needs a command")
	}
	if o.Size < 1 {
		return nil, fmt.Errorf("password: process pool size %d", o.Size)
	}
	p := &ProcessPool{cmd: o.Command, env: o.Env, idle: make(chan *worker, o.Size), running: map[*worker]struct{}{}}
	for range o.Size {
		p.idle <- nil
	}
	return p, nil
}

// IDKey derives the argon2id key of password with salt and params in a
// worker. A worker that fails (it died since its last hash, say, killed by
// the kernel for memory) is replaced and the hash tried once more on the
// new one: deriving a key has no side effect, so the retry is safe.
// Errors wrap ErrWorker and never contain the password.
func (p *ProcessPool) IDKey(password, salt []byte, params Params) ([]byte, error) {
	w := <-p.idle
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if w == nil {
			if w, err = p.start(); err != nil {
				break
			}
		}
		var key []byte
		if key, err = w.derive(password, salt, params); err == nil {
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

func (p *ProcessPool) start() (*worker, error) {
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
func (p *ProcessPool) stop(w *worker) {
	p.mu.Lock()
	delete(p.running, w)
	p.mu.Unlock()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

func (w *worker) derive(password, salt []byte, params Params) ([]byte, error) {
	if len(password) > workerMaxPassword || len(salt) > workerMaxSalt {
		return nil, errors.New("request out of bounds")
	}
	req := make([]byte, workerHeaderLen, workerHeaderLen+len(password)+len(salt))
	for i, v := range []uint32{uint32(len(password)), uint32(len(salt)), params.Iterations, params.Memory, uint32(params.Parallelism), params.KeyLen} {
		binary.LittleEndian.PutUint32(req[4*i:], v)
	}
	req = append(append(req, password...), salt...)
	_, err := w.in.Write(req)
	clear(req)
	if err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	key := make([]byte, params.KeyLen)
	if _, err := io.ReadFull(w.out, key); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return key, nil
}

// Close ends every worker: it closes their input, so each exits after the
// hash it may be computing, and waits for them. Hashes asked for after
// Close fail.
func (p *ProcessPool) Close() error {
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
