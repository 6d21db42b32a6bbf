package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit allows N events per Window, with bursts up to N.
type Limit struct {
	N      int
	Window time.Duration
}

// Decision is the outcome of a check.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when not allowed: how long until one event fits
}

// Limiter counts events per key. Hit counts one event and says whether it
// fitted; Check says whether one more would fit without counting it (used
// for failure limits that only count failures); Reset forgets a key.
type Limiter interface {
	Hit(ctx context.Context, key string, l Limit) (Decision, error)
	Check(ctx context.Context, key string, l Limit) (Decision, error)
	Reset(ctx context.Context, key string) error
}

// Memory is an in-process Limiter. Idle buckets are dropped by Sweep.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	l    Limit
	seen time.Time
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-process limiter. now may be nil.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{buckets: map[string]*bucket{}, now: now}
}

func every(l Limit) rate.Limit {
	if l.N <= 0 || l.Window <= 0 {
		return rate.Inf
	}
	return rate.Limit(float64(l.N) / l.Window.Seconds())
}

func (m *Memory) get(key string, l Limit, now time.Time) *bucket {
	b := m.buckets[key]
	if b == nil || b.l != l {
		b = &bucket{lim: rate.NewLimiter(every(l), l.N), l: l}
		m.buckets[key] = b
	}
	b.seen = now
	return b
}

func retryAfter(b *bucket, now time.Time) time.Duration {
	missing := 1 - b.lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	secs := missing / float64(b.lim.Limit())
	return time.Duration(math.Ceil(secs)) * time.Second
}

// Hit counts one event.
func (m *Memory) Hit(_ context.Context, key string, l Limit) (Decision, error) {
	if l.N <= 0 {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.get(key, l, now)
	if b.lim.AllowN(now, 1) {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: retryAfter(b, now)}, nil
}

// Check reports whether one more event would fit, without counting it.
func (m *Memory) Check(_ context.Context, key string, l Limit) (Decision, error) {
	if l.N <= 0 {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[key]
	if !ok || b.l != l || b.lim.TokensAt(now) >= 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: retryAfter(b, now)}, nil
}

// Reset forgets the key (e.g. failures after a successful login).
func (m *Memory) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.buckets, key)
	m.mu.Unlock()
	return nil
}

// Sweep drops buckets that have refilled completely, bounding memory.
func (m *Memory) Sweep() int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, b := range m.buckets {
		if now.Sub(b.seen) >= b.l.Window {
			delete(m.buckets, k)
			n++
		}
	}
	return n
}

// Len is the number of live buckets.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
