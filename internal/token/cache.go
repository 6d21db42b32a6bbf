package token

import (
	"sync"
	"time"
)

// CachedVerifier remembers access tokens it has verified until they
// expire, so a client that presents the same token on every request pays
// for one signature check, not one per request. The cache is keyed by the
// exact token string, holds at most Max entries and is emptied when full.
// A cached token is still rejected the moment it expires.
type CachedVerifier struct {
	v   *Verifier
	now func() time.Time
	max int

	mu sync.RWMutex
	m  map[string]Claims
}

// NewCachedVerifier wraps v. max <= 0 means 10,000 entries.
func NewCachedVerifier(v *Verifier, max int, now func() time.Time) *CachedVerifier {
	if max <= 0 {
		max = 10_000
	}
	if now == nil {
		now = time.Now
	}
	return &CachedVerifier{v: v, now: now, max: max, m: make(map[string]Claims)}
}

// Verify returns the claims of a valid token, from the cache when the
// same token was verified before and has not expired.
func (c *CachedVerifier) Verify(token string) (Claims, error) {
	c.mu.RLock()
	cl, ok := c.m[token]
	c.mu.RUnlock()
	if ok {
		if c.now().Before(cl.ExpiresAt) {
			return cl, nil
		}
		c.mu.Lock()
		delete(c.m, token)
		c.mu.Unlock()
		return Claims{}, ErrExpired
	}
	cl, err := c.v.Verify(token)
	if err != nil {
		return Claims{}, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]Claims)
	}
	c.m[token] = cl
	c.mu.Unlock()
	return cl, nil
}
