package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// env is one running Gatehouse behind httptest, on a real store.
type env struct {
	t   testing.TB
	url string
	g   *app.Gatehouse
	cfg config.Config
}

type storeKind string

const (
	onSQLite   storeKind = "sqlite"
	onPostgres storeKind = "postgres"
)

func newEnv(t testing.TB, kind storeKind, mutate func(*config.Config)) *env {
	t.Helper()
	return newEnvWith(t, kind, envOptions{mutate: mutate})
}

// envOptions adjust newEnvWith.
type envOptions struct {
	// mutate changes the configuration before Build.
	mutate func(*config.Config)
	// realPublicURL makes the public URL the test server's own address
	// (the listener is opened before Build), so links in mails lead a
	// real browser back to this server. Otherwise it is
	// http://gatehouse.test. mutate runs after and may still change it.
	realPublicURL bool
	// log receives the server's log as JSON lines (at info and above);
	// nil discards it.
	log io.Writer
}

// newEnvWith is newEnv with options.
func newEnvWith(t testing.TB, kind storeKind, o envOptions) *env {
	t.Helper()
	mutate := o.mutate
	// The listener exists from here on; the handler is set after Build.
	srv := httptest.NewUnstartedServer(nil)
	cfg := baseConfig(t)
	if o.realPublicURL {
		cfg.HTTP.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	cfg.HTTP.CORSOrigins = []string{"https://app.example.com"}
	if kind == onPostgres {
		cfg.Database.URL = secret.Secret(pgtest.NewDatabase(t))
		cfg.MasterKey = randomMasterKey()
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return serveLogged(t, cfg, srv, o.log)
}

// baseConfig is the defaults with a private data dir and a fixed public URL.
func baseConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.PublicURL = "http://gatehouse.test"
	return cfg
}

// randomMasterKey is a fresh base64 master key (required on PostgreSQL).
func randomMasterKey() secret.Secret {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return secret.Secret(base64.StdEncoding.EncodeToString(k))
}

// serve validates cfg, builds a Gatehouse with cheap hashing, starts its
// background work and serves it on srv (an unstarted server whose
// listener the caller needed early), or on a new server when srv is nil.
// Everything is closed when the test ends.
func serve(t testing.TB, cfg config.Config, srv *httptest.Server) *env {
	t.Helper()
	return serveLogged(t, cfg, srv, nil)
}

// serveLogged is serve with the server's log written to w (nil: discarded).
func serveLogged(t testing.TB, cfg config.Config, srv *httptest.Server, w io.Writer) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if w != nil {
		log = slog.New(slog.NewJSONHandler(w, nil))
	}
	if srv == nil {
		srv = httptest.NewUnstartedServer(nil)
	}
	// Close is idempotent: this also covers the early exits below.
	t.Cleanup(srv.Close)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := apptest.CheapHashing()
	g, err := app.Build(context.Background(), cfg, log, app.BuildOptions{Password: &opts})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	srv.Config.Handler = g.Handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return &env{t: t, url: srv.URL, g: g, cfg: cfg}
}

// bothStores runs f on SQLite and on PostgreSQL (skipped locally without
// GATEHOUSE_TEST_POSTGRES_URL; required in CI).
func bothStores(t *testing.T, f func(t *testing.T, kind storeKind)) {
	t.Run("sqlite", func(t *testing.T) { f(t, onSQLite) })
	t.Run("postgres", func(t *testing.T) { f(t, onPostgres) })
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
	cookie []*http.Cookie
}

func (r resp) str(path ...string) string {
	v := r.get(path...)
	s, _ := v.(string)
	return s
}

func (r resp) get(path ...string) any {
	var cur any = r.body
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// req sends a request; body may be nil, a string (sent raw) or a value
// (sent as JSON); hdr are header pairs.
func (e *env) req(method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: raw, cookie: res.Cookies()}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// expect fails unless the status matches, printing the body.
func expect(t testing.TB, r resp, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
}

// expectProblem checks a problem+json answer with the given code.
func expectProblem(t *testing.T, r resp, status int, code, what string) {
	t.Helper()
	expect(t, r, status, what)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: content type %q, want application/problem+json", what, ct)
	}
	if r.str("code") != code || int(r.get("status").(float64)) != status || r.str("title") == "" || r.str("type") == "" {
		t.Fatalf("%s: problem %s, want code %q", what, r.raw, code)
	}
}

const goodPassword = "correct horse battery staple"

// session is a logged-in client.
type session struct {
	userID, token, access, refresh, sessionID string
}

func (e *env) signup(email string) string {
	e.t.Helper()
	r := e.req("POST", "/v1/auth/signup", map[string]any{"email": email, "password": goodPassword, "name": "Test User"})
	expect(e.t, r, 201, "signup "+email)
	return r.str("user", "id")
}

func (e *env) login(email, pw string) session {
	e.t.Helper()
	r := e.req("POST", "/v1/auth/login", map[string]any{"email": email, "password": pw})
	expect(e.t, r, 200, "login "+email)
	return session{userID: r.str("user", "id"), token: r.str("session_token"), access: r.str("access_token"),
		refresh: r.str("refresh_token"), sessionID: r.str("session", "id")}
}

// admin creates an admin through the CLI's path and logs in.
func (e *env) admin(email string) session {
	e.t.Helper()
	_, err := e.g.Identity.Bootstrap(context.Background(), identity.NewUserInput{
		SignupInput: identity.SignupInput{Email: email, Password: goodPassword}, Roles: []string{"admin"}, EmailVerified: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.login(email, goodPassword)
}

func identityInput(email string, roles ...string) identity.NewUserInput {
	return identity.NewUserInput{SignupInput: identity.SignupInput{Email: email, Password: goodPassword}, Roles: roles}
}

// lockedLog is a log sink the server's goroutines may share.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
