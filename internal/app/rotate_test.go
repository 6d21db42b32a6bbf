package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

func TestScheduledRotation(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Tokens.RotateEvery = 0 // driven by hand below
	opts := password.Options{Params: password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true}
	g, err := Build(context.Background(), cfg, slog.New(slog.DiscardHandler), BuildOptions{Password: &opts})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	first := g.Keys.Active().KID
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.rotateOnSchedule(ctx, time.Hour, 10*time.Millisecond); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if g.Keys.Active().KID != first {
		t.Fatal("rotated a key younger than the schedule")
	}
	cancel()
	<-done
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { g.rotateOnSchedule(ctx, time.Nanosecond, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for g.Keys.Active().KID == first && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if g.Keys.Active().KID == first {
		t.Fatal("an old key was not rotated on schedule")
	}
	if n := len(g.Keys.JWKS().Keys); n < 2 {
		t.Fatalf("JWKS has %d keys after rotation; the old key must stay published", n)
	}
}
