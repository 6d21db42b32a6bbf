package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter shared by every replica that uses the same Redis
// (R2): a GCRA bucket per key, kept by redis_rate's Lua script, so counts
// are exact across replicas without a race.
type Redis struct {
	lim    *redis_rate.Limiter
	prefix string
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter on rdb; prefix namespaces the keys.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{lim: redis_rate.NewLimiter(rdb), prefix: prefix}
}

func gcra(l Limit) redis_rate.Limit {
	return redis_rate.Limit{Rate: l.N, Burst: l.N, Period: l.Window}
}

// Hit counts one event.
func (r *Redis) Hit(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.N <= 0 || l.Window <= 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := r.lim.Allow(ctx, r.prefix+key, gcra(l))
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: roundUp(res.RetryAfter)}, nil
}

// Check reports whether one more event would fit, without counting it.
func (r *Redis) Check(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.N <= 0 || l.Window <= 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := r.lim.AllowN(ctx, r.prefix+key, gcra(l), 0)
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if res.Remaining >= 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: roundUp(l.Window / time.Duration(l.N))}, nil
}

// Reset forgets a key.
func (r *Redis) Reset(ctx context.Context, key string) error {
	if err := r.lim.Reset(ctx, r.prefix+key); err != nil {
		return fmt.Errorf("redis rate limit: %w", err)
	}
	return nil
}

func roundUp(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
