package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario names, in the order a full run measures them. The floor comes
// first so the machine is measured before the server has warmed any cache;
// login comes last because it leaves hundreds of sessions behind.
const (
	scFloor         = "floor"
	scWhoamiSession = "whoami-session"
	scWhoamiAccess  = "whoami-access"
	scRefresh       = "refresh"
	scSignup        = "signup"
	scLogin         = "login"
	scCheck         = "check"
	scCheckBatch    = "check-batch"
	scRevocation    = "revocation"
)

// checkBody is one RBAC-decided check (a viewer may read posts), the
// common case of POST /v1/authz/check.
var checkBody = jsonBody(map[string]any{"action": "posts.read", "resource": map[string]any{"type": "post", "id": "42"}})

// batchBody holds 100 checks of mixed outcome: RBAC allows, default
// denies and the seeded ownership policy (CEL).
var batchBody = func() []byte {
	checks := make([]any, 100)
	for i := range checks {
		switch i % 3 {
		case 0:
			checks[i] = map[string]any{"action": "posts.read", "resource": map[string]any{"type": "post", "id": fmt.Sprint(i)}}
		case 1:
			checks[i] = map[string]any{"action": "posts.delete", "resource": map[string]any{"type": "post", "id": fmt.Sprint(i)}}
		default:
			checks[i] = map[string]any{"action": "posts.update", "resource": map[string]any{"type": "post", "id": fmt.Sprint(i), "attributes": map[string]any{"author_id": "someone-else"}}}
		}
	}
	return jsonBody(map[string]any{"checks": checks})
}()

// endpoints is one path on every replica. A worker sends its requests to
// the replicas in turn, as a round-robin load balancer without sticky
// sessions would; with one replica it is that replica's URL.
type endpoints []string

func endpointsOf(bases []string, path string) endpoints {
	e := make(endpoints, len(bases))
	for i, b := range bases {
		e[i] = b + path
	}
	return e
}

// at is the URL of a worker's n-th request; i offsets the workers so
// they do not all start on the first replica.
func (e endpoints) at(i, n int) string { return e[(i+n)%len(e)] }

// perAccount is a scenario of one request per call on behalf of the
// accounts in turn, worker i taking accounts i, i+c, i+2c, ... (so all
// workers together cycle over every account) and the replicas in turn;
// req gives the bearer credential and body of an account's request.
func perAccount(hc *http.Client, bases []string, method, path string, c int, accts []*account, req func(*account) (bearer string, body []byte)) func(i int) requestFunc {
	urls := endpointsOf(bases, path)
	return func(i int) requestFunc {
		k, n := i, 0
		return func(ctx context.Context) error {
			bearer, body := req(accts[k%len(accts)])
			k += c
			n++
			return do(ctx, hc, method, urls.at(i, n), bearer, body, nil)
		}
	}
}

// checkScenario posts one body to an authz endpoint with the accounts'
// access tokens, round-robin.
func checkScenario(hc *http.Client, bases []string, path string, c int, accts []*account, body []byte) func(i int) requestFunc {
	return perAccount(hc, bases, http.MethodPost, path, c, accts, func(a *account) (string, []byte) { return a.accessToken, body })
}

// account is a user created during setup, with the credentials of one
// session.
type account struct {
	email, password string
	loginBody       []byte
	sessionToken    string
	accessToken     string
	refreshToken    string
}

// loginResponse is the part of POST /v1/auth/login the benchmark uses.
type loginResponse struct {
	SessionToken string `json:"session_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// refreshResponse is the part of POST /v1/auth/refresh the benchmark uses.
type refreshResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// credentials builds a unique email and a password that passes the
// server's policy (long, not common, not containing the email).
func credentials(runID, kind string, worker, n int) (email, password string) {
	email = fmt.Sprintf("ghb%s%s%dn%d@bench.example.com", runID, kind, worker, n)
	password = "Violet-Quasar-" + runID + "-" + randomHex(4)
	return email, password
}

// jsonBody marshals a request body known to be marshalable.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// withRetry runs f until it succeeds, retrying (after Retry-After, or
// 100ms) only when the server answered 429: the hashing queue is bounded,
// so even setup may be told to come back.
func withRetry(ctx context.Context, f func() error) error {
	for {
		err := f()
		var se *statusError
		if !errors.As(err, &se) || se.status != http.StatusTooManyRequests {
			return err
		}
		wait := se.retryAfter
		if wait <= 0 {
			wait = 100 * time.Millisecond
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// signupAndLogin creates one user and logs it in.
func signupAndLogin(ctx context.Context, hc *http.Client, base string, a *account) error {
	signup := jsonBody(map[string]string{"email": a.email, "password": a.password})
	if err := withRetry(ctx, func() error {
		return do(ctx, hc, http.MethodPost, base+"/v1/auth/signup", "", signup, nil)
	}); err != nil {
		return fmt.Errorf("signup %s: %w", a.email, err)
	}
	return login(ctx, hc, base, a)
}

// login starts a new session for a and stores its tokens in a.
func login(ctx context.Context, hc *http.Client, base string, a *account) error {
	var lr loginResponse
	if err := withRetry(ctx, func() error {
		return do(ctx, hc, http.MethodPost, base+"/v1/auth/login", "", a.loginBody, &lr)
	}); err != nil {
		return fmt.Errorf("login %s: %w", a.email, err)
	}
	if lr.SessionToken == "" || lr.AccessToken == "" || lr.RefreshToken == "" {
		return fmt.Errorf("login %s: answer lacks session_token, access_token or refresh_token", a.email)
	}
	a.sessionToken, a.accessToken, a.refreshToken = lr.SessionToken, lr.AccessToken, lr.RefreshToken
	return nil
}

// setupAccounts signs up and logs in n users. It runs a few at a time
// (every signup and login is a password hash, and the server's hashing
// queue is small) and is not measured.
func setupAccounts(ctx context.Context, hc *http.Client, bases []string, runID string, n, parallel int) ([]*account, error) {
	accts := make([]*account, n)
	for i := range accts {
		email, pw := credentials(runID, "u", 0, i)
		accts[i] = &account{email: email, password: pw, loginBody: jsonBody(map[string]string{"email": email, "password": pw})}
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := signupAndLogin(ctx, hc, bases[i%len(bases)], accts[i]); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return accts, ctx.Err()
}

// whoamiScenario is GET /v1/auth/whoami with one bearer credential per request,
// worker i taking accounts i, i+c, i+2c, ... round-robin, so all workers
// together cycle over every session.
func whoamiScenario(hc *http.Client, bases []string, c int, accts []*account, cred func(*account) string) func(i int) requestFunc {
	return perAccount(hc, bases, http.MethodGet, "/v1/auth/whoami", c, accts, func(a *account) (string, []byte) { return cred(a), nil })
}

// refreshScenario gives worker i account i and chains its refresh tokens:
// each refresh spends the token and returns the next one. A spent token
// must never be sent again (the server would revoke the session), so after
// any failure, when it is unknown whether the token was spent, the worker
// logs in again for a new chain; that login's time is part of the
// failed request.
func refreshScenario(hc *http.Client, bases []string, accts []*account) func(i int) requestFunc {
	urls := endpointsOf(bases, "/v1/auth/refresh")
	return func(i int) requestFunc {
		a, n := accts[i], 0
		return func(ctx context.Context) error {
			var rr refreshResponse
			n++
			base := bases[(i+n)%len(bases)]
			err := do(ctx, hc, http.MethodPost, urls.at(i, n), "", jsonBody(map[string]string{"refresh_token": a.refreshToken}), &rr)
			if err == nil && rr.RefreshToken == "" {
				err = errors.New("refresh answer has no refresh_token")
			}
			if err != nil {
				if lerr := login(ctx, hc, base, a); lerr != nil && ctx.Err() == nil {
					return fmt.Errorf("%w (and the new login failed: %v)", err, lerr)
				}
				return err
			}
			a.refreshToken, a.accessToken = rr.RefreshToken, rr.AccessToken
			return nil
		}
	}
}

// signupScenario signs up a new, unique user per request; the sequence is
// shared by all workers and by every run of the scenario.
func signupScenario(hc *http.Client, bases []string, runID string) func(i int) requestFunc {
	urls := endpointsOf(bases, "/v1/auth/signup")
	var seq atomic.Int64
	return func(i int) requestFunc {
		n := 0
		return func(ctx context.Context) error {
			email, pw := credentials(runID, "s", 0, int(seq.Add(1)))
			n++
			return do(ctx, hc, http.MethodPost, urls.at(i, n), "", jsonBody(map[string]string{"email": email, "password": pw}), nil)
		}
	}
}

// loginScenario logs in the setup users round-robin with their known
// passwords; every success starts a new session.
func loginScenario(hc *http.Client, bases []string, c int, accts []*account) func(i int) requestFunc {
	return perAccount(hc, bases, http.MethodPost, "/v1/auth/login", c, accts, func(a *account) (string, []byte) { return "", a.loginBody })
}

// floorScenario is GET / on the hello-world server, through the same
// client and the same do function as every Gatehouse request.
func floorScenario(hc *http.Client, base string) func(i int) requestFunc {
	url := base + "/"
	return func(int) requestFunc {
		return func(ctx context.Context) error {
			return do(ctx, hc, http.MethodGet, url, "", nil, nil)
		}
	}
}

// startFloor serves a trivial net/http hello world on a loopback port
// inside the benchmark process: the most a Go HTTP server on this machine
// can answer through this client, the yardstick for the whoami figures.
func startFloor() (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("hello, world\n"))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
