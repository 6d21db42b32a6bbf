// Package session owns stateful sessions (S1-S21) and their refresh-token
// families (J10-J15): creation with fresh random tokens (only SHA-256
// digests stored), the per-request check, sliding idle and absolute
// expiry, listing and revocation per device, rotation with reuse
// detection, and the background janitor. Checks are served from an
// in-process cache (X4) that every revocation in this process invalidates
// at once; entries also expire after a short TTL so changes made by other
// processes are seen quickly.
package session
