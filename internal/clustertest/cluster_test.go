package clustertest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/proctree"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// serveEnv turns a copy of the test binary into a Gatehouse process: the
// same app.RunWith that cmd/gatehouse calls, with the same password-hash
// worker processes (copies of the test binary started with
// app.HashWorkerCommand, running app.HashWorker; they get no GATEHOUSE_
// variable, so the argument is what marks them).
const serveEnv = "GATEHOUSE_CLUSTERTEST_PROCESS"

func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == app.HashWorkerCommand {
		os.Exit(app.HashWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(serveEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := app.RunWith(ctx, app.Options{HashWorker: []string{os.Args[0], app.HashWorkerCommand}}, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	adminEmail    = "admin@cluster.test"
	adminPassword = "Granite-Harbor-Passphrase-42"
	userPassword  = "Violet-Quasar-Lantern-7"
	// publicURL is the one address of the cluster behind its load
	// balancer: the issuer of every replica's tokens.
	publicURL = "http://gatehouse.cluster.test"
	// propagation is the longest a revocation on one replica may take to
	// be refused by every other (X1).
	propagation = 100 * time.Millisecond
)

// replica is one gatehouse serve process.
type replica struct {
	n       int
	addr    string
	url     string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // set before exited is closed
	killed  bool
}

// cluster is n replicas on one fresh PostgreSQL database and one Redis
// key prefix, with a shared master key and public URL.
type cluster struct {
	t   *testing.T
	env []string
	rs  []*replica
	hc  *http.Client
}

// newCluster starts n replicas, one after the other (the first migrates
// the empty database), and creates the admin with the CLI.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	_, prefix := redistest.Client(t) // skips, or fails under CI, without Redis
	dbURL := pgtest.NewDatabase(t)
	dir := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	// Cheap hashing keeps the race-instrumented processes fast; rate limits
	// that would stop the load test are raised, the failure limit and the
	// lockout keep their defaults. The session cache would trust a session
	// for an hour: only the fan-out can make another replica refuse it.
	cfg := fmt.Sprintf(`http:
  public_url: %s
redis_prefix: %q
log_level: warn
password:
  memory_kib: 8192
  iterations: 1
  parallelism: 1
session:
  cache_ttl: 1h
rate_limit:
  login_per_ip: {n: 1000000, window: 1m}
  signup_per_ip: {n: 1000000, window: 1m}
`, publicURL, prefix)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	env = append(env, serveEnv+"=1", "GATEHOUSE_CONFIG="+cfgPath,
		"GATEHOUSE_DATABASE_URL="+dbURL, "GATEHOUSE_REDIS_URL="+os.Getenv(redistest.EnvURL),
		"GATEHOUSE_MASTER_KEY="+base64.StdEncoding.EncodeToString(key))
	c := &cluster{t: t, env: env, hc: &http.Client{Timeout: 20 * time.Second}}
	for i := range n {
		r := &replica{n: i, addr: freeAddr(t), dataDir: filepath.Join(dir, fmt.Sprintf("data%d", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("replica%d.log", i))}
		r.url = "http://" + r.addr
		c.rs = append(c.rs, r)
		c.start(r)
	}
	t.Cleanup(c.stopAll)
	out, err := c.command("users", "create", "--email", adminEmail, "--password", adminPassword, "--role", "admin")
	if err != nil {
		t.Fatalf("gatehouse users create: %v\n%s", err, out)
	}
	// Let every replica's Redis subscription settle before the first event.
	time.Sleep(200 * time.Millisecond)
	return c
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// command runs a gatehouse CLI command against the cluster's database.
func (c *cluster) command(args ...string) ([]byte, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = c.env
	return cmd.CombinedOutput()
}

// start starts r's process and waits until its /readyz answers 200.
func (c *cluster) start(r *replica) {
	t := c.t
	t.Helper()
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--http", r.addr, "--data-dir", r.dataDir)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	r.cmd, r.exited, r.err, r.killed = cmd, make(chan struct{}), nil, false
	go func() {
		r.err = cmd.Wait()
		logf.Close()
		close(r.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.hc.Get(r.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("replica %d exited before it was ready (%v):\n%s", r.n, r.err, tail(r.logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d not ready after 60s:\n%s", r.n, tail(r.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitGone waits up to d for process pid to end (an ended child of an
// ended parent is reaped by init, so its /proc entry goes away).
func awaitGone(pid string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true
		}
		// A zombie waiting for its reaper has ended too.
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return true
		}
	}
	return false
}

// kill ends r with SIGKILL: no shutdown, no flushing, nothing in flight
// finishes.
func (c *cluster) kill(r *replica) {
	r.killed = true
	_ = r.cmd.Process.Kill()
	<-r.exited
}

// stopAll stops every running replica with SIGTERM and fails the test if
// one had died on its own or does not shut down cleanly (a data race
// detected in a replica ends it with status 66).
func (c *cluster) stopAll() {
	for _, r := range c.rs {
		if r.cmd == nil {
			continue
		}
		select {
		case <-r.exited:
			if !r.killed {
				c.t.Errorf("replica %d died during the test (%v):\n%s", r.n, r.err, tail(r.logPath))
			}
			continue
		default:
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			if r.err != nil {
				c.t.Errorf("replica %d: unclean shutdown (%v):\n%s", r.n, r.err, tail(r.logPath))
			}
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
			c.t.Errorf("replica %d ignored SIGTERM for 30s:\n%s", r.n, tail(r.logPath))
		}
	}
	if c.t.Failed() {
		for _, r := range c.rs {
			c.t.Logf("replica %d log:\n%s", r.n, tail(r.logPath))
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// call sends one request to replica i and decodes a JSON answer.
func (c *cluster) call(i int, method, path, bearer string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.rs[i].url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, err
	}
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return res.StatusCode, out, nil
}

// must is call that fails the test unless the status is want.
func (c *cluster) must(want, i int, method, path, bearer string, body any) map[string]any {
	c.t.Helper()
	code, out, err := c.call(i, method, path, bearer, body)
	if err != nil || code != want {
		c.t.Fatalf("%s %s on replica %d: %d %v (%v), want %d", method, path, i, code, out, err, want)
	}
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// session is what a login on one replica hands out.
type session struct {
	userID, id, token, access string
}

func (c *cluster) login(i int, email, password string) session {
	c.t.Helper()
	out := c.must(http.StatusOK, i, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	s := session{userID: str(out, "user", "id"), id: str(out, "session", "id"), token: str(out, "session_token"), access: str(out, "access_token")}
	if s.userID == "" || s.id == "" || s.token == "" || s.access == "" {
		c.t.Fatalf("login answer lacks ids or tokens: %v", out)
	}
	return s
}

func (c *cluster) whoami(i int, tok string) int {
	code, _, err := c.call(i, "GET", "/v1/auth/whoami", tok, nil)
	if err != nil {
		c.t.Fatalf("whoami on replica %d: %v", i, err)
	}
	return code
}

// recognisedEverywhere asserts every replica accepts both of s's
// credentials; it also puts the session into every replica's cache.
func (c *cluster) recognisedEverywhere(s session, what string) {
	c.t.Helper()
	for i := range c.rs {
		for _, tok := range []string{s.token, s.access} {
			if code := c.whoami(i, tok); code != http.StatusOK {
				c.t.Fatalf("%s: replica %d answers whoami with %d", what, i, code)
			}
		}
	}
}

// awaitFrom polls f every 2 ms until it is true or limit has passed
// since from, and returns the time since from when f was last asked.
func awaitFrom(from time.Time, limit time.Duration, f func() bool) (time.Duration, bool) {
	for {
		ok := f()
		took := time.Since(from)
		if ok || took > limit {
			return took, ok
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refusedEverywhere asserts that within propagation of the event's answer
// every replica refuses both of s's credentials (the replicas are polled
// at the same time) and logs the slowest replica's time.
func (c *cluster) refusedEverywhere(s session, acked time.Time, what string) {
	c.t.Helper()
	var (
		mu      sync.Mutex
		slowest time.Duration
		wg      sync.WaitGroup
		late    []string
	)
	for i := range c.rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tok := range []string{s.access, s.token} {
				var code int
				var err error
				took, ok := awaitFrom(acked, propagation, func() bool {
					code, _, err = c.call(i, "GET", "/v1/auth/whoami", tok, nil)
					return err == nil && code == http.StatusUnauthorized
				})
				mu.Lock()
				slowest = max(slowest, took)
				if !ok {
					late = append(late, fmt.Sprintf("replica %d still answers %d (%v) after %v", i, code, err, took))
				}
				mu.Unlock()
				if !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(late) > 0 {
		c.t.Fatalf("%s: %s", what, strings.Join(late, "; "))
	}
	c.t.Logf("%s: refused by all %d replicas %v after the answer", what, len(c.rs), slowest.Round(100*time.Microsecond))
}

// TestClusterRevocationReachesEveryReplica: a user who logs in on one
// replica is recognised by the others; a logout, a session revocation, a
// password change and a suspension on one replica are refused by every
// replica within 100 ms, although each replica's cache would trust the
// session for an hour (X1, X2, J16, S16).
func TestClusterRevocationReachesEveryReplica(t *testing.T) {
	c := newCluster(t, 3)
	admin := c.login(2, adminEmail, adminPassword)
	const email = "john@cluster.test"
	c.must(http.StatusCreated, 0, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": userPassword})
	pw := userPassword

	// Logout on replica 0 of a session started on replica 1.
	s := c.login(1, email, pw)
	c.recognisedEverywhere(s, "login on replica 1")
	c.must(http.StatusNoContent, 0, "POST", "/v1/auth/logout", s.access, nil)
	c.refusedEverywhere(s, time.Now(), "logout on replica 0")

	// One device revokes another's session through replica 1.
	s = c.login(2, email, pw)
	other := c.login(0, email, pw)
	c.recognisedEverywhere(s, "login on replica 2")
	c.must(http.StatusNoContent, 1, "DELETE", "/v1/me/sessions/"+s.id, other.access, nil)
	c.refusedEverywhere(s, time.Now(), "session revoked on replica 1")

	// A password change on replica 2 ends every other session.
	s = c.login(0, email, pw)
	c.recognisedEverywhere(s, "login on replica 0")
	c.recognisedEverywhere(other, "the device that changes the password")
	newPW := "Emerald-Nebula-Compass-9"
	c.must(http.StatusNoContent, 2, "POST", "/v1/me/password", other.access, map[string]any{"current_password": pw, "new_password": newPW})
	c.refusedEverywhere(s, time.Now(), "password changed on replica 2")
	c.recognisedEverywhere(other, "the session that changed the password")
	pw = newPW

	// An admin suspends the user through replica 0.
	s = c.login(1, email, pw)
	c.recognisedEverywhere(s, "login on replica 1")
	c.must(http.StatusOK, 0, "POST", "/v1/admin/users/"+s.userID+"/suspend", admin.access, nil)
	c.refusedEverywhere(s, time.Now(), "suspended on replica 0")
	if code, out, _ := c.call(2, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": pw}); code != http.StatusUnauthorized {
		t.Fatalf("suspended user logs in on replica 2: %d %v", code, out)
	}
}

// TestClusterCountsFailuresAcrossReplicas: the failure limit and the
// lockout count every replica's failures (R1, R2, X2).
func TestClusterCountsFailuresAcrossReplicas(t *testing.T) {
	c := newCluster(t, 3)
	const email = "alice@cluster.test"
	c.must(http.StatusCreated, 1, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": userPassword})
	wrong := map[string]any{"email": email, "password": "not her password at all"}
	for i := range 5 {
		c.must(http.StatusUnauthorized, i%3, "POST", "/v1/auth/login", "", wrong)
	}
	out := c.must(http.StatusTooManyRequests, 2, "POST", "/v1/auth/login", "", wrong)
	if out["code"] != "rate_limited" {
		t.Fatalf("sixth failure: %v", out)
	}
	// The account is locked on every replica, right password or not.
	for i := range c.rs {
		code, out, err := c.call(i, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": userPassword})
		if err != nil || code == http.StatusOK {
			t.Fatalf("replica %d lets a locked account log in: %d %v %v", i, code, out, err)
		}
	}
}

// kidOf returns the kid in a JWS's protected header.
func kidOf(t *testing.T, jws string) string {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.KID
}

// jwksKIDs returns the kids replica i publishes and its Cache-Control.
func (c *cluster) jwksKIDs(i int) (map[string]bool, string) {
	c.t.Helper()
	res, err := c.hc.Get(c.rs[i].url + "/.well-known/jwks.json")
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		c.t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.KID] = true
	}
	return kids, res.Header.Get("Cache-Control")
}

// TestClusterKeyRotation: a rotation on one replica is published by every
// replica's JWKS, which keeps the old key; every replica signs new tokens
// with the new key and still accepts tokens of the old one (J7/J8).
func TestClusterKeyRotation(t *testing.T) {
	c := newCluster(t, 3)
	admin := c.login(0, adminEmail, adminPassword)
	oldKID := kidOf(t, admin.access)
	for i := range c.rs {
		kids, cc := c.jwksKIDs(i)
		if !kids[oldKID] {
			t.Fatalf("replica %d does not publish the key of its tokens", i)
		}
		if !strings.Contains(cc, "max-age=") {
			t.Fatalf("replica %d JWKS Cache-Control %q: verifiers need a max-age to refresh", i, cc)
		}
	}
	out := c.must(http.StatusOK, 1, "POST", "/v1/admin/keys/rotate", admin.access, nil)
	newKID, _ := out["kid"].(string)
	if newKID == "" || newKID == oldKID {
		t.Fatalf("rotate answered kid %q (old %q)", newKID, oldKID)
	}
	rotated := time.Now()
	for i := range c.rs {
		var kids map[string]bool
		if _, ok := awaitFrom(rotated, 2*time.Second, func() bool {
			kids, _ = c.jwksKIDs(i)
			return kids[newKID] && kids[oldKID]
		}); !ok {
			t.Fatalf("replica %d publishes %v 2s after the rotation; want the new %s and the old %s", i, kids, newKID, oldKID)
		}
	}
	t.Logf("every replica published the new key %v after the rotation", time.Since(rotated).Round(time.Millisecond))
	for i := range c.rs {
		s := c.login(i, adminEmail, adminPassword)
		if kid := kidOf(t, s.access); kid != newKID {
			t.Fatalf("replica %d signs with %s after the rotation to %s", i, kid, newKID)
		}
		c.recognisedEverywhere(s, fmt.Sprintf("token of the new key from replica %d", i))
	}
	c.recognisedEverywhere(admin, "token of the old key")
}

// TestClusterSIGKILLLosesNothingAcknowledged: a replica killed with
// SIGKILL while it is taking signups and profile updates loses none that
// it acknowledged; the others keep serving, and the replica comes back on
// the same database (X1, X3).
func TestClusterSIGKILLLosesNothingAcknowledged(t *testing.T) {
	c := newCluster(t, 3)
	const workers = 9
	type worker struct {
		s        session
		replica  int
		signups  []string // emails whose signup was answered 201
		lastName string   // the last name a PATCH was answered 200 for
		inFlight string   // the first name sent without an answer since the last one answered (the kill may have cut it)
	}
	ws := make([]*worker, workers)
	for w := range ws {
		email := fmt.Sprintf("worker%d@cluster.test", w)
		c.must(http.StatusCreated, w%3, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": userPassword})
		ws[w] = &worker{s: c.login(w%3, email, userPassword), replica: w % 3}
	}

	victim := c.rs[2]
	// Its logins ran in hash worker processes; they must not outlive it.
	hashWorkers := proctree.Children(strconv.Itoa(victim.cmd.Process.Pid))
	if runtime.GOOS == "linux" && len(hashWorkers) == 0 {
		t.Fatalf("replica %d hashed without worker processes", victim.n)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, wk := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%dn%d@cluster.test", w, n)
				code, _, err := c.call(wk.replica, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": userPassword})
				if err == nil && code == http.StatusCreated {
					wk.signups = append(wk.signups, email)
				}
				name := fmt.Sprintf("name %d", n)
				code, _, err = c.call(wk.replica, "PATCH", "/v1/me", wk.s.access, map[string]any{"name": name})
				switch {
				case err == nil && code == http.StatusOK:
					wk.lastName, wk.inFlight = name, ""
				case err != nil && wk.inFlight == "":
					// The first update left unanswered may have been
					// applied; the later ones met a dead replica.
					wk.inFlight = name
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	c.kill(victim)
	killedAt := time.Now()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, pid := range hashWorkers {
		if !awaitGone(pid, 5*time.Second) {
			t.Fatalf("hash worker %s of the killed replica still runs", pid)
		}
	}

	total, onVictim := 0, 0
	for w, wk := range ws {
		total += len(wk.signups)
		if wk.replica == victim.n {
			onVictim += len(wk.signups)
		}
		if wk.replica == victim.n && len(wk.signups) == 0 {
			t.Fatalf("worker %d got no signup through the victim before the kill: the test measured nothing", w)
		}
	}
	t.Logf("%d signups acknowledged, %d of them by the replica killed %v into the load", total, onVictim, 1500*time.Millisecond)

	// The survivors serve every acknowledged write.
	for w, wk := range ws {
		for k, email := range wk.signups {
			at := k % 2 // replicas 0 and 1
			code, out, err := c.call(at, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": userPassword})
			if err != nil || code != http.StatusOK {
				t.Fatalf("acknowledged signup %s (worker %d) cannot log in on replica %d after the kill: %d %v %v", email, w, at, code, out, err)
			}
		}
		out := c.must(http.StatusOK, w%2, "GET", "/v1/me", wk.s.access, nil)
		got := str(out, "user", "name")
		if wk.lastName == "" {
			continue
		}
		if got != wk.lastName && got != wk.inFlight {
			t.Fatalf("worker %d: name %q after the kill; its last acknowledged update was %q (in flight: %q)", w, got, wk.lastName, wk.inFlight)
		}
	}

	// The killed replica comes back on the same port and database and
	// recognises sessions it issued before it died.
	c.start(victim)
	t.Logf("replica restarted %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	for _, wk := range ws {
		if code := c.whoami(victim.n, wk.s.access); code != http.StatusOK {
			t.Fatalf("restarted replica answers whoami with %d", code)
		}
	}
	c.must(http.StatusCreated, victim.n, "POST", "/v1/auth/signup", "", map[string]any{"email": "after@cluster.test", "password": userPassword})
}

// allowedEverywhere waits until every replica answers john's check with
// want, and fails the test if one still answers otherwise after
// propagation from the change's answer (Z16 across replicas).
func (c *cluster) allowedEverywhere(tok string, check map[string]any, want bool, acked time.Time, what string) {
	c.t.Helper()
	for i := range c.rs {
		var out map[string]any
		if took, ok := awaitFrom(acked, propagation, func() bool {
			code, o, err := c.call(i, "POST", "/v1/authz/check", tok, check)
			if err != nil || code != http.StatusOK {
				c.t.Fatalf("%s: check on replica %d: %d %v %v", what, i, code, o, err)
			}
			out = o
			return out["allowed"] == want
		}); !ok {
			c.t.Fatalf("%s: replica %d still answers allowed=%v (%v) %v after the change", what, i, out["allowed"], out["reason"], took)
		}
	}
}

// TestClusterAuthzChangesReachEveryReplica: a user's roles, a deny
// policy and an ACL tuple changed on one replica decide the next check on
// every replica, with an access token issued before the change (Z16, S19).
func TestClusterAuthzChangesReachEveryReplica(t *testing.T) {
	c := newCluster(t, 3)
	admin := c.login(0, adminEmail, adminPassword)
	c.must(http.StatusCreated, 1, "POST", "/v1/auth/signup", "", map[string]any{"email": "john@cluster.test", "password": userPassword})
	john := c.login(1, "john@cluster.test", userPassword)
	edit1 := map[string]any{"action": "posts.update", "resource": map[string]any{"type": "post", "id": "1"}}
	edit42 := map[string]any{"action": "posts.update", "resource": map[string]any{"type": "post", "id": "42"}}
	// Every replica decides (and caches) the viewer's answer first.
	c.allowedEverywhere(john.access, edit1, false, time.Now(), "a viewer edits")

	c.must(http.StatusOK, 0, "PUT", "/v1/admin/users/"+john.userID+"/roles", admin.access, map[string]any{"roles": []string{"editor"}})
	c.allowedEverywhere(john.access, edit1, true, time.Now(), "promoted to editor on replica 0")

	out := c.must(http.StatusCreated, 2, "POST", "/v1/admin/policies", admin.access, map[string]any{
		"name": "frozen", "effect": "deny", "actions": []string{"posts.update"}, "resource_type": "post", "condition": "true"})
	c.allowedEverywhere(john.access, edit1, false, time.Now(), "deny policy created on replica 2")
	c.must(http.StatusNoContent, 1, "DELETE", "/v1/admin/policies/"+str(out, "policy", "id"), admin.access, nil)
	c.allowedEverywhere(john.access, edit1, true, time.Now(), "deny policy deleted on replica 1")

	c.must(http.StatusOK, 1, "PUT", "/v1/admin/users/"+john.userID+"/roles", admin.access, map[string]any{"roles": []string{"viewer"}})
	c.allowedEverywhere(john.access, edit1, false, time.Now(), "demoted to viewer on replica 1")
	c.allowedEverywhere(john.access, edit42, false, time.Now(), "no tuple yet")
	c.must(http.StatusCreated, 2, "POST", "/v1/admin/relations", admin.access, map[string]any{
		"subject": map[string]any{"type": "user", "id": john.userID}, "permission": "posts.update",
		"resource": map[string]any{"type": "post", "id": "42"}})
	c.allowedEverywhere(john.access, edit42, true, time.Now(), "tuple granted on replica 2")
	c.allowedEverywhere(john.access, edit1, false, time.Now(), "the tuple grants post 42 only")
}

// sessionLoads reads replica i's count of session checks its memory could
// not answer, answered from source ("redis" or "database").
func (c *cluster) sessionLoads(i int, source string) int {
	c.t.Helper()
	res, err := c.hc.Get(c.rs[i].url + "/metrics")
	if err != nil {
		c.t.Fatalf("metrics of replica %d: %v", i, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	prefix := `gatehouse_session_loads_total{source="` + source + `"} `
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err != nil {
				c.t.Fatalf("metric line %q: %v", line, err)
			}
			return int(n)
		}
	}
	c.t.Fatalf("replica %d has no %s metric:\n%s", i, prefix, raw)
	return 0
}

var verifyLink = regexp.MustCompile(`verify-email\?token=([A-Za-z0-9_-]{43})`)

// verifyToken waits for the verification mail in replica i's outbox.
func (c *cluster) verifyToken(i int) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(c.rs[i].dataDir, "outbox", "*.eml"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			// Undo quoted-printable soft breaks and escapes.
			s := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(b))
			if m := verifyLink.FindStringSubmatch(s); m != nil {
				return m[1]
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no verification mail in replica %d's outbox", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterSharesSessionChecksThroughRedis: a replica that has never
// seen a session is answered from Redis, not PostgreSQL, once another
// replica has read it (X1); a change of the user made on one replica,
// here an email verification, is seen at once by a replica that had the
// session in its memory and by one that reads it from Redis (S16).
func TestClusterSharesSessionChecksThroughRedis(t *testing.T) {
	c := newCluster(t, 3)
	const email = "shared@cluster.test"
	c.must(http.StatusCreated, 0, "POST", "/v1/auth/signup", "", map[string]any{"email": email, "password": userPassword})
	s := c.login(0, email, userPassword)

	if code := c.whoami(1, s.token); code != http.StatusOK {
		t.Fatalf("whoami on replica 1: %d", code)
	}
	if n := c.sessionLoads(1, "database"); n != 1 {
		t.Fatalf("replica 1 read the session from PostgreSQL %d times, want 1", n)
	}
	before := c.sessionLoads(2, "database")
	// By access token: Redis finds the session by the token's sid; then
	// replica 2 knows it by both keys.
	for _, tok := range []string{s.access, s.token} {
		if code := c.whoami(2, tok); code != http.StatusOK {
			t.Fatalf("whoami on replica 2: %d", code)
		}
	}
	if got := c.sessionLoads(2, "redis"); got != 1 {
		t.Fatalf("replica 2 answered %d checks from Redis, want 1", got)
	}
	if after := c.sessionLoads(2, "database"); after != before {
		t.Fatalf("replica 2 read PostgreSQL %d times for a session Redis had", after-before)
	}

	// Every replica has the session in its memory now, trusted for an
	// hour. The address is verified on replica 0; all three must show it
	// within the propagation bound.
	out := c.must(http.StatusOK, 1, "GET", "/v1/auth/whoami", s.token, nil)
	if out["user"].(map[string]any)["email_verified"] != false {
		t.Fatalf("setup: address already verified: %v", out)
	}
	c.must(http.StatusOK, 0, "POST", "/v1/auth/verify-email", "", map[string]any{"token": c.verifyToken(0)})
	acked := time.Now()
	for i := range c.rs {
		for _, tok := range []string{s.token, s.access} {
			var got any
			if took, ok := awaitFrom(acked, propagation, func() bool {
				out := c.must(http.StatusOK, i, "GET", "/v1/auth/whoami", tok, nil)
				got = out["user"].(map[string]any)["email_verified"]
				return got == true
			}); !ok {
				t.Fatalf("replica %d still shows email_verified=%v %v after the verification", i, got, took)
			}
		}
	}
}
