// Package keyset owns Gatehouse's asymmetric signing keys (J7, J8): it
// generates them, encrypts their private halves at rest under the master
// key, loads and decrypts them into memory, rotates them and publishes the
// public halves as a JWKS.
//
// # Master key
//
// A MasterKey is 32 random bytes. Private keys are sealed with AES-256-GCM
// (random 12-byte nonce, stored as nonce||ciphertext) with the key id as
// additional data, so a ciphertext moved to another row does not open. A
// MasterKey never prints itself (fmt, slog) and error messages never carry
// its value.
//
// # Which key is active
//
// The store is only ever appended to: rotation inserts a new key and never
// updates an old row. The active key is the newest key by CreatedAt (ties
// broken by kid, so every replica agrees) whose stored RetiredAt is nil.
// Every other key is retired: at its stored RetiredAt when set, otherwise at
// the CreatedAt of the next newer key. A retired key stays published in the
// JWKS, and resolvable by PublicKey, for Options.RetireAfter after it was
// retired, so tokens it signed keep verifying until they expire; after that
// it is ignored (never decrypted, never published). Keys are created with
// whole-second timestamps strictly after the current active key, so the
// ordering survives stores that keep second precision.
//
// # Replicas
//
// Each Set keeps a decrypted, immutable snapshot in memory and swaps it
// atomically; readers never lock. When another replica rotates, Reload picks
// up the new key (the caller decides when: periodically, or when a token
// names an unknown kid).
package keyset
