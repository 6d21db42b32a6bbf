// Package sqlite opens the embedded SQLite store (modernc.org/sqlite, pure
// Go, no cgo) with WAL, a busy timeout and foreign keys on. Writes go
// through a single connection that begins IMMEDIATE transactions, so
// concurrent writers queue instead of failing with SQLITE_BUSY; reads use a
// separate pool and see WAL snapshots.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect describes SQLite to sqlstore.
func Dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:           "sqlite",
		UnixMicroTimes: true,
		PrepareHot:     true,
		Agg:            "group_concat(%s, ',')",
		IsUniqueViolation: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
		IsForeignKeyViolation: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
		},
	}
}

func dsn(path string, txlock string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if txlock != "" {
		q.Set("_txlock", txlock)
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path, runs the
// migrations and returns the store.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data dir: %w", err)
		}
	}
	w, err := sql.Open("sqlite", dsn(path, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := runtime.GOMAXPROCS(0) * 2
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	st, err := sqlstore.New(w, r, Dialect())
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	if err := st.Open(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return st, nil
}
