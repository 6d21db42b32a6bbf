// Package storetest owns the conformance suite every store.Store
// implementation must pass: the executable form of the contract written in
// the doc comments of package store.
//
// A backend's own test calls Run with a function that opens a fresh,
// migrated store private to the calling test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			st := openTestStore(t) // migrated, seeded roles, no users
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// Every subtest opens its own store, so subtests never see each other's
// rows and a backend may run them against one database per subtest.
//
// The suite never relies on the store's clock: every time it writes or
// passes as "now" is UTC and truncated to the millisecond, and times read
// back are compared with a tolerance of one millisecond, so backends that
// keep microseconds (PostgreSQL, SQLite as text) pass unchanged. Ids are
// UUIDv7 strings made by the caller; because github.com/google/uuid makes
// them monotonic within a process, creation order is id order.
//
// What the suite holds a backend to, beyond the plain round trips:
//   - every write is one transaction, including its audit event: a write
//     that fails leaves neither its rows nor its event behind;
//   - uniqueness and single use hold under concurrency (same email from
//     twenty goroutines, one refresh token rotated by ten, atomic failure
//     counters) and surface as store.ErrConflict / store.ErrRefreshReused,
//     never as a driver's busy or serialization error;
//   - a session that is no longer active can never mint a new refresh
//     token, whatever ended it (logout, revocation, suspension, password
//     change, expiry, reuse detection, deletion of the user);
//   - audit events are not tied to the lifetime of the user they name.
package storetest
