package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyPoll is how often /readyz is asked while the server starts.
const readyPoll = 2 * time.Millisecond

// idleSettle is how long after /readyz first answers 200 the idle RSS is
// read, so that it reflects the process at rest rather than mid-start.
const idleSettle = 200 * time.Millisecond

// serverSpec says how to start the Gatehouse server under test.
type serverSpec struct {
	bin         string   // the gatehouse binary
	extraArgs   []string // appended to the serve flags
	extraEnv    []string // added to the child's environment
	dataDir     string
	databaseURL string // empty: SQLite in dataDir
	redisURL    string // empty: no Redis
	publicURL   string // the issuer every replica shares; empty: the server's default
	masterKey   string // given to the child when databaseURL is set
	logPath     string // the child's stdout and stderr, appended
}

// server is one running child process.
type server struct {
	cmd    *exec.Cmd
	pid    string
	base   string // http://127.0.0.1:port
	log    *os.File
	exited chan struct{}
	err    error // set before exited is closed

	// Ready is the time from starting the process until /readyz first
	// answered 200.
	Ready time.Duration
	// IdleRSS is VmRSS idleSettle after ready, before any load.
	IdleRSS int64
}

// newMasterKey returns 32 random bytes in standard base64, the form
// GATEHOUSE_MASTER_KEY takes.
func newMasterKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. The port is released before the server binds it; on a busy machine
// another process could take it in between, and the start fails clearly.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// childEnv is the benchmark's environment without GATEHOUSE_* variables
// (a developer's own settings must not leak into the measurement), plus
// what the run needs.
func childEnv(spec serverSpec) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GATEHOUSE_LOG_LEVEL=warn")
	if spec.databaseURL != "" {
		env = append(env, "GATEHOUSE_MASTER_KEY="+spec.masterKey)
	}
	if spec.redisURL != "" {
		env = append(env, "GATEHOUSE_REDIS_URL="+spec.redisURL)
	}
	return append(env, spec.extraEnv...)
}

// startServer starts the server on a free loopback port and waits until
// /readyz answers 200, polling every readyPoll; then it records the idle
// RSS. The clock for Ready starts just before the process is created, so it
// covers exec, migrations, key loading or generation and the first
// successful database ping.
func startServer(ctx context.Context, spec serverSpec) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	logf, err := os.OpenFile(spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--http", addr, "--data-dir", spec.dataDir, "--disable-rate-limits"}
	if spec.databaseURL != "" {
		args = append(args, "--database-url", spec.databaseURL)
	}
	if spec.publicURL != "" {
		args = append(args, "--public-url", spec.publicURL)
	}
	args = append(args, spec.extraArgs...)
	cmd := exec.Command(spec.bin, args...)
	cmd.Env = childEnv(spec)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	s := &server{cmd: cmd, base: "http://" + addr, log: logf, exited: make(chan struct{})}

	// The poller gets its own client without keep-alive, so that no idle
	// connection of the start-up phase lingers into the measurements.
	poll := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.bin, err)
	}
	s.pid = strconv.Itoa(cmd.Process.Pid)
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		if readyOnce(ctx, poll, s.base+"/readyz") {
			s.Ready = time.Since(start)
			break
		}
		select {
		case <-s.exited:
			logf.Close()
			return nil, fmt.Errorf("server exited before it was ready (%v); its log:\n%s", s.err, tail(spec.logPath, 2000))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("server not ready after 60s; its log:\n%s", tail(spec.logPath, 2000))
		case <-time.After(readyPoll):
		}
	}
	time.Sleep(idleSettle)
	if rss, err := procStatusBytes(s.pid, "VmRSS"); err == nil {
		s.IdleRSS = rss
	} else {
		s.IdleRSS = -1
	}
	return s, nil
}

// readyOnce reports whether one GET of url answered 200.
func readyOnce(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop asks the server to shut down (SIGTERM), waits up to ten seconds and
// then kills it. It is safe to call more than once.
func (s *server) stop() error {
	defer s.log.Close()
	if !s.alive() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("server ignored SIGTERM for 10s and was killed")
	}
	var ee *exec.ExitError
	if s.err != nil && !errors.As(s.err, &ee) {
		return s.err
	}
	return nil
}

// tail returns at most the last n bytes of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// buildServer compiles ./cmd/gatehouse into dir and returns the binary's
// path and the revision it was built from. It runs in the module root
// found from the working directory, so the benchmark measures the code
// checked out next to it.
func buildServer(ctx context.Context, dir string) (bin, revision string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	revision = gitRevision(ctx, root)
	bin = filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("go build ./cmd/gatehouse in %s: %w\n%s", root, err, out)
	}
	return bin, revision, nil
}

// gitRevision describes the checkout at root as binaryRevision does, from
// git itself (builds may run with -buildvcs=false), ignoring changes under
// cmd/gatehouse-bench; "unknown" without git.
func gitRevision(ctx context.Context, root string) string {
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	out := strings.TrimSpace(string(rev))
	// Changes to the benchmark itself do not change the server binary.
	st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no",
		"--", ".", ":(exclude)cmd/gatehouse-bench").Output()
	if err == nil && len(bytes.TrimSpace(st)) > 0 {
		out += "+modified"
	}
	return out
}

// moduleRoot walks up from the working directory to the go.mod of the
// Gatehouse module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/gatehouse-auth/gatehouse\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Gatehouse module: run from the repository or pass -bin")
		}
		dir = parent
	}
}

// binaryRevision returns the VCS revision a binary was built from, as the
// go command stamps it ("3f2a9c1b7d0e", with "+modified" when the working
// tree had uncommitted changes), or "unknown".
func binaryRevision(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "+modified"
	}
	return rev
}
