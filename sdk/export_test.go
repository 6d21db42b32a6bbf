package gatehouse

// DisableVerifiedCache makes every Verify check the signature, for
// benchmarks of the uncached path.
func DisableVerifiedCache(v *Verifier) { v.cache.off = true }
