// Package sqlstore implements store.Store once, in SQL that both SQLite and
// PostgreSQL understand, over database/sql. The two dialects differ only in
// how they are opened, how time is stored, how a unique violation looks and
// how roles are aggregated; Dialect captures exactly that. The sqlite and
// postgres packages open a connection with their driver (modernc.org/sqlite,
// pgx) and hand it here, so both backends run the same queries and the same
// storetest conformance suite.
package sqlstore
