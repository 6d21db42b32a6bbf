package ratelimit

import (
	"context"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestMemory(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(c.now)
	l := Limit{N: 5, Window: 15 * time.Minute}
	for i := 0; i < 5; i++ {
		if d, _ := m.Hit(ctx, "a", l); !d.Allowed {
			t.Fatalf("hit %d refused", i+1)
		}
	}
	d, _ := m.Hit(ctx, "a", l)
	if d.Allowed || d.RetryAfter < 2*time.Minute || d.RetryAfter > 4*time.Minute {
		t.Fatalf("6th hit: %+v, want refused with ~3m retry", d)
	}
	if d, _ := m.Check(ctx, "a", l); d.Allowed {
		t.Fatal("check after exhaustion allowed")
	}
	if d, _ := m.Check(ctx, "b", l); !d.Allowed {
		t.Fatal("other key limited")
	}
	c.t = c.t.Add(3 * time.Minute)
	if d, _ := m.Hit(ctx, "a", l); !d.Allowed {
		t.Fatal("no refill after 3 minutes")
	}
	_ = m.Reset(ctx, "a")
	for i := 0; i < 5; i++ {
		if d, _ := m.Hit(ctx, "a", l); !d.Allowed {
			t.Fatal("reset did not forget")
		}
	}
	c.t = c.t.Add(time.Hour)
	if n := m.Sweep(); n != 1 || m.Len() != 0 {
		t.Fatalf("sweep removed %d, %d left", n, m.Len())
	}
	if d, _ := m.Hit(ctx, "z", Limit{}); !d.Allowed {
		t.Fatal("zero limit must mean unlimited")
	}
}
