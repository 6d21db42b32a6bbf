package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
)

// TestRedisSharedAcrossReplicas: two limiters (two replicas) on one Redis
// share every count.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	a, b := ratelimit.NewRedis(c, prefix), ratelimit.NewRedis(c, prefix)
	l := ratelimit.Limit{N: 5, Window: 15 * time.Minute}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lim := a
			if i%2 == 1 {
				lim = b
			}
			d, err := lim.Hit(ctx, "login:fail:x", l)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else if d.RetryAfter < time.Second {
				t.Errorf("refusal without Retry-After: %+v", d)
			}
		}(i)
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("%d of 20 hits allowed across two replicas, want 5", allowed.Load())
	}
	if d, _ := b.Check(ctx, "login:fail:x", l); d.Allowed {
		t.Fatal("Check allows after exhaustion")
	}
	if d, _ := a.Check(ctx, "other", l); !d.Allowed {
		t.Fatal("Check refuses a fresh key")
	}
	if d, _ := a.Check(ctx, "other", l); !d.Allowed {
		t.Fatal("Check counted an event")
	}
	if err := a.Reset(ctx, "login:fail:x"); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.Hit(ctx, "login:fail:x", l); !d.Allowed {
		t.Fatal("Reset on one replica not seen by the other")
	}
}
