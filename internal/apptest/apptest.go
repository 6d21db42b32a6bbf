// Package apptest starts a real, fully wired Gatehouse in-process for the
// tests of code that talks to it over HTTP (the SDK, the examples): SQLite
// in a private temp dir, real argon2id with cheap parameters, no rate
// limits, the public URL (the token issuer) being the server's own
// address. Everything is closed when the test ends.
package apptest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// CheapHashing keeps argon2id real but microseconds fast, with enough
// workers (64 KiB each) that concurrency tests are served rather than
// refused: a waiter passed over by newer callers once per worker gets
// ErrBusy, so a deep queue alone would not do.
func CheapHashing() password.Options {
	return password.Options{
		Params:          password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		AllowWeakParams: true,
		Workers:         64,
		Queue:           256,
	}
}

// Serve starts Gatehouse and returns its URL. wrap, when non-nil, wraps
// the handler (to count or observe requests).
func Serve(t testing.TB, wrap func(http.Handler) http.Handler) (string, *app.Gatehouse) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close) // idempotent; covers the early exits below
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.PublicURL = "http://" + srv.Listener.Addr().String()
	cfg.RateLimit.Disabled = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := CheapHashing()
	g, err := app.Build(context.Background(), cfg, slog.New(slog.DiscardHandler), app.BuildOptions{Password: &opts})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = g.Handler
	if wrap != nil {
		h = wrap(h)
	}
	srv.Config.Handler = h
	srv.Start()
	g.Start(context.Background())
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return cfg.HTTP.PublicURL, g
}
