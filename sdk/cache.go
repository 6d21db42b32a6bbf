package gatehouse

import (
	"slices"
	"sync"
)

// verifiedCacheSize bounds the verified-token cache; when full it is
// emptied (the next request of each client refills it).
const verifiedCacheSize = 10_000

// verified is a token whose signature and claims passed, and the key that
// signed it.
type verified struct {
	claims Claims
	kid    string
	key    *verifyKey
}

// verifiedCache remembers verified tokens by their exact bytes, so a
// client presenting the same token on every request costs one signature
// check per token, not one per request. A hit is trusted only while the
// same key is still published; expiry and revocation are checked on every
// call regardless.
type verifiedCache struct {
	mu  sync.RWMutex
	m   map[string]verified
	off bool // tests measure uncached verification
}

func (c *verifiedCache) get(token string) (verified, bool) {
	if c.off {
		return verified{}, false
	}
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	return e, ok
}

func (c *verifiedCache) put(token string, e verified) {
	if c.off {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= verifiedCacheSize {
		c.m = make(map[string]verified)
	}
	c.m[token] = e
	c.mu.Unlock()
}

func (c *verifiedCache) drop(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

// copyClaims gives each caller its own Claims, so one handler changing
// Roles cannot change what the next request sees.
func copyClaims(c *Claims, raw string) *Claims {
	out := *c
	out.Roles = slices.Clone(c.Roles)
	out.AMR = slices.Clone(c.AMR)
	out.Raw = raw
	return &out
}
