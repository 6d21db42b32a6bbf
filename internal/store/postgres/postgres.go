// Package postgres opens the PostgreSQL store through pgx (its database/sql
// adapter over a pgx connection pool) and hands it to sqlstore. Replicas
// share one database; migrations serialise on an advisory lock.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect describes PostgreSQL to sqlstore.
func Dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:        "postgres",
		Numbered:    true,
		ForUpdate:   " FOR UPDATE",
		WritableCTE: true,
		Agg:         "string_agg(%s, ',')",
		IsUniqueViolation: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23505"
		},
		IsForeignKeyViolation: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23503"
		},
		IsInvalidInput: func(err error) bool {
			var e *pgconn.PgError
			// 22021 character_not_in_repertoire, 22P05 untranslatable_character,
			// 22P02 invalid_text_representation (e.g. a bad uuid).
			return errors.As(err, &e) && (e.Code == "22021" || e.Code == "22P05" || e.Code == "22P02")
		},
		IsUnavailable: func(err error) bool {
			var ne net.Error
			var ce *pgconn.ConnectError
			return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err)
		},
	}
}

// Open connects to the database URL, runs the migrations and returns the
// store. The URL is never included in errors (it may hold a password).
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	return open(ctx, url, nil)
}

// open is Open with a hook that may adjust the pool's configuration (the
// tests add a tracer).
func open(ctx context.Context, url string, tweak func(*pgxpool.Config)) (*sqlstore.Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: cannot parse the database URL")
	}
	if tweak != nil {
		tweak(cfg)
	}
	cfg.MaxConns = 20
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(20)
	st, err := sqlstore.New(db, db, Dialect())
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	st.OnClose(pool.Close)
	if err := st.Open(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return st, nil
}
