package httpapi_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// startReplicas serves n Gatehouses on one fresh PostgreSQL database and
// the test Redis.
func startReplicas(t *testing.T, n int) []*env {
	t.Helper()
	_, prefix := redistest.Client(t) // skips, or fails under CI, without Redis
	cfg := baseConfig(t)
	cfg.Database.URL = secret.Secret(pgtest.NewDatabase(t))
	cfg.MasterKey = randomMasterKey()
	cfg.RedisURL = secret.Secret(os.Getenv(redistest.EnvURL))
	cfg.RedisPrefix = prefix
	cfg.Session.CacheTTL = time.Hour // only the fan-out may invalidate
	var out []*env
	for i := 0; i < n; i++ {
		out = append(out, serve(t, cfg, nil))
	}
	time.Sleep(100 * time.Millisecond) // subscriptions confirmed
	return out
}

func whoamiAt(t *testing.T, base, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// within polls f until it is true or the deadline passes.
func within(d time.Duration, f func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if f() {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return d, false
}

// TestReplicasShareRevocations: a user logged in through replica 1 is
// recognised by replica 2; logout and suspension on one replica are
// refused by the other within 100 ms, although its cache would trust the
// session for an hour (X1, J16, S16).
func TestReplicasShareRevocations(t *testing.T) {
	rs := startReplicas(t, 2)
	e1, e2 := rs[0], rs[1]
	adm := e1.admin("admin@example.com")
	e1.signup("john@example.com")
	s := e1.login("john@example.com", goodPassword)
	for _, tok := range []string{s.token, s.access} {
		if code := whoamiAt(t, rs[1].url, tok); code != 200 {
			t.Fatalf("replica 2 does not recognise a replica-1 login: %d", code)
		}
	}
	expect(t, e1.req("POST", "/v1/auth/logout", nil, bearer(s.access)...), 204, "logout on replica 1")
	if took, ok := within(100*time.Millisecond, func() bool { return whoamiAt(t, rs[1].url, s.access) == 401 }); !ok {
		t.Fatalf("replica 2 still accepts a logged-out session after %v", took)
	}
	s2 := e2.login("john@example.com", goodPassword)
	if code := whoamiAt(t, rs[0].url, s2.token); code != 200 {
		t.Fatalf("replica 1 does not recognise a replica-2 login: %d", code)
	}
	expect(t, e2.req("POST", "/v1/admin/users/"+s2.userID+"/suspend", nil, bearer(adm.access)...), 200, "suspend on replica 2")
	if took, ok := within(100*time.Millisecond, func() bool { return whoamiAt(t, rs[0].url, s2.token) == 401 }); !ok {
		t.Fatalf("replica 1 still accepts a suspended user after %v", took)
	}
}

// TestReplicasShareRateLimits: login failures count across replicas.
func TestReplicasShareRateLimits(t *testing.T) {
	rs := startReplicas(t, 2)
	e1, e2 := rs[0], rs[1]
	e1.signup("alice@test.com")
	for i := 0; i < 5; i++ {
		e := e1
		if i%2 == 1 {
			e = e2
		}
		expect(t, e.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 401, "failure")
	}
	expectProblem(t, e2.req("POST", "/v1/auth/login", map[string]any{"email": "alice@test.com", "password": "wrong password!"}), 429, "rate_limited", "sixth failure, other replica (R2)")
}
