package keyset

import (
	"context"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ReloadingSource is a verification key source that, on an unknown kid,
// re-reads the store (another replica may have rotated) at most once per
// interval, so a flood of tokens with made-up kids cannot become a flood
// of queries.
type ReloadingSource struct {
	set      *Set
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last time.Time
}

// NewReloadingSource wraps s; interval <= 0 means 10 seconds.
func NewReloadingSource(s *Set, interval time.Duration) *ReloadingSource {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &ReloadingSource{set: s, interval: interval, now: time.Now}
}

// PublicKey returns the key for kid, reloading once if it is unknown.
func (r *ReloadingSource) PublicKey(kid string) (jose.JSONWebKey, bool) {
	if k, ok := r.set.PublicKey(kid); ok {
		return k, true
	}
	r.mu.Lock()
	due := r.now().Sub(r.last) >= r.interval
	if due {
		r.last = r.now()
	}
	r.mu.Unlock()
	if !due {
		return jose.JSONWebKey{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.set.Reload(ctx); err != nil {
		return jose.JSONWebKey{}, false
	}
	return r.set.PublicKey(kid)
}
