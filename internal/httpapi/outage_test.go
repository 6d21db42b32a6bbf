package httpapi_test

import (
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// cutProxy forwards TCP to a backend until cut: then it drops every
// connection and refuses new ones, like a database that went away.
type cutProxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	down    bool
	conns   []net.Conn
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestPostgresOutage: with the database gone /readyz fails, writes answer
// 503 (never 500, nothing half-written), cached sessions keep answering,
// and service resumes by itself when the database returns (X3).
func TestPostgresOutage(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	cfg := baseConfig(t)
	cfg.Database.URL = secret.Secret(u.String())
	cfg.MasterKey = randomMasterKey()
	e := serve(t, cfg, nil)
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.token)...), 200, "warm the caches")

	proxy.cut()
	expect(t, e.req("GET", "/readyz", nil), 503, "readyz without the database")
	expect(t, e.req("GET", "/healthz", nil), 200, "healthz without the database")
	for i := 0; i < 3; i++ { // the pool notices dead connections one by one
		r := e.req("POST", "/v1/auth/signup", map[string]any{"email": "bob@mail.com", "password": goodPassword})
		if r.status == 500 {
			t.Fatalf("signup during the outage answered 500: %s", r.raw)
		}
		expectProblem(t, r, 503, "unavailable", "signup during the outage")
	}
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.token)...), 200, "cached session during the outage")

	proxy.restore()
	if _, ok := within(10*time.Second, func() bool { return e.req("GET", "/readyz", nil).status == 200 }); !ok {
		t.Fatal("readyz did not recover")
	}
	expect(t, e.req("POST", "/v1/auth/signup", map[string]any{"email": "bob@mail.com", "password": goodPassword}), 201, "signup after recovery (nothing half-written before)")
}

// TestRedisOutage: with Redis gone a replica keeps serving (limits fail
// open, caches fall back to PostgreSQL), and shared limits apply again
// once Redis is back.
func TestRedisOutage(t *testing.T) {
	_, prefix := redistest.Client(t)
	ru, _ := url.Parse(os.Getenv(redistest.EnvURL))
	proxy := newCutProxy(t, ru.Host)
	ru.Host = proxy.ln.Addr().String()
	cfg := baseConfig(t)
	cfg.RedisURL = secret.Secret(ru.String())
	cfg.RedisPrefix = prefix
	// A short memory: checks go on to the shared tier (Redis, down) and
	// then the database.
	cfg.Session.CacheTTL = 20 * time.Millisecond
	e := serve(t, cfg, nil)

	proxy.cut()
	e.signup("alice@test.com")
	s := e.login("alice@test.com", goodPassword)
	time.Sleep(30 * time.Millisecond)
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.token)...), 200, "whoami by session token without Redis")
	time.Sleep(30 * time.Millisecond)
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...), 200, "whoami without Redis")
	expect(t, e.req("POST", "/v1/auth/logout", nil, bearer(s.access)...), 204, "logout without Redis")
	expect(t, e.req("GET", "/v1/auth/whoami", nil, bearer(s.access)...), 401, "logged out without Redis")

	proxy.restore()
	if _, ok := within(10*time.Second, func() bool {
		r := e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"})
		return r.status == 429
	}); !ok {
		t.Fatal("shared login limits did not come back with Redis")
	}
}
