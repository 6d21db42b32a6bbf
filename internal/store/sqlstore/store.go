package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/google/uuid"
)

// Store implements store.Store over database/sql.
type Store struct {
	w   *sql.DB // writes (on SQLite: one connection, BEGIN IMMEDIATE)
	r   *sql.DB // reads (may be the same pool)
	d   *Dialect
	now func() time.Time

	// reads and writes hold the hot queries prepared by prepare, keyed by
	// their text as the methods write it (before rebind). Only fixed query
	// text belongs here; the maps are filled once, before the store is
	// shared, and only read after.
	reads  map[string]*sql.Stmt
	writes map[string]*sql.Stmt
	// bound holds the hot queries' texts with $n placeholders, rebound
	// once in New, for dialects that number them (sqlText); nil otherwise.
	bound   map[string]string
	q       builtQueries
	closers []func()
}

// builtQueries are hot query texts that depend on the dialect, built once.
type builtQueries struct {
	sessionByHash, sessionByID, userByEmail, refreshByHash string
	// loginSession is CreateLoginSession's work in one statement
	// (Dialect.WritableCTE): the login record, the session, its refresh
	// token and the audit event, answering the device query; empty
	// otherwise.
	loginSession string
}

// OnClose registers f to run after the pools are closed (the pgx pool).
func (s *Store) OnClose(f func()) { s.closers = append(s.closers, f) }

var _ store.Store = (*Store)(nil)

// New wraps open database handles. w and r may be the same *sql.DB.
func New(w, r *sql.DB, d *Dialect) (*Store, error) {
	s := &Store{w: w, r: r, d: d, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	s.q = builtQueries{
		sessionByHash: s.sessionUserQuery(` WHERE s.token_hash = ?`),
		sessionByID:   s.sessionUserQuery(` WHERE s.id = ?`),
		userByEmail:   s.userSelect() + ` WHERE u.email_normalized = ?`,
		refreshByHash: `SELECT id, session_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?` + d.ForUpdate,
	}
	if d.WritableCTE {
		s.q.loginSession = d.rebind(`WITH u AS (` + qLoginRecord + `), s AS (` + qInsertSession + `), r AS (` + qInsertRefresh +
			`), a AS (` + qInsertAudit + `) ` + qDeviceSeen)
	}
	if d.Numbered {
		reads, writes := s.hotQueries()
		s.bound = make(map[string]string, len(reads)+len(writes))
		for _, q := range append(reads, writes...) {
			s.bound[q] = d.rebind(q)
		}
	}
	return s, nil
}

// Query texts of the hot paths that are not built per dialect.
const (
	qInsertSession = `INSERT INTO sessions (id, user_id, token_hash, status, ip_address, user_agent, amr, created_at, updated_at, last_seen_at, expires_at, idle_expires_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qInsertRefresh = `INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`
	qInsertAudit   = `INSERT INTO audit_events (id, created_at, type, actor_id, user_id, result, ip_address, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qLoginRecord   = `UPDATE users SET failed_login_attempts = 0, locked_until = NULL, last_login_at = ?, last_login_ip = ?, updated_at = ? WHERE id = ?`
	qTouchSession  = `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ?, updated_at = ? WHERE id = ? AND status = 'active'`
	qSpendRefresh  = `UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`
	qDeviceSeen    = `SELECT
 (SELECT count(*) FROM (SELECT 1 FROM sessions WHERE user_id = ? AND ip_address = ? AND user_agent = ? LIMIT 1) k),
 (SELECT count(*) FROM (SELECT 1 FROM sessions WHERE user_id = ? LIMIT 1) b)`
)

// hotQueries are the statements every login, session check and refresh
// runs: reads on the read pool, writes on the write pool (used inside
// transactions through Tx.StmtContext, which reuses the connection's
// prepared statement).
func (s *Store) hotQueries() (reads, writes []string) {
	reads = []string{s.q.sessionByHash, s.q.sessionByID, s.q.userByEmail}
	writes = []string{qInsertSession, qInsertRefresh, qInsertAudit, qLoginRecord, qDeviceSeen, qTouchSession, qSpendRefresh,
		s.q.refreshByHash, s.q.sessionByID}
	return reads, writes
}

// prepare readies the hot-path statements, so SQLite parses each once per
// connection instead of once per call (about 0.3 ms of a login's CPU);
// called after Migrate because the tables must exist.
func (s *Store) prepare(ctx context.Context) error {
	if s.reads != nil || !s.d.PrepareHot {
		return nil
	}
	reads, writes := s.hotQueries()
	r, err := s.prepareAll(ctx, s.r, reads)
	if err != nil {
		return err
	}
	w, err := s.prepareAll(ctx, s.w, writes)
	if err != nil {
		closeStmts(r)
		return err
	}
	s.reads, s.writes = r, w
	return nil
}

func (s *Store) prepareAll(ctx context.Context, db *sql.DB, queries []string) (map[string]*sql.Stmt, error) {
	m := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, s.sqlText(q))
		if err != nil {
			closeStmts(m)
			return nil, s.wrap("prepare", err)
		}
		m[q] = st
	}
	return m, nil
}

func closeStmts(m map[string]*sql.Stmt) {
	for _, st := range m {
		st.Close()
	}
}

// sqlText returns q as the driver takes it: a hot query's text is
// rebound once, in New, not on every call.
func (s *Store) sqlText(q string) string {
	if t, ok := s.bound[q]; ok {
		return t
	}
	return s.d.rebind(q)
}

// queryRow runs a read on the read pool, prepared if q is a hot query.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.reads[q]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, s.sqlText(q), args...)
}

// txQueryRow runs a query inside tx, prepared if q is a hot write-pool query.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.writes[q]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.sqlText(q), args...)
}

// Ping checks both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return s.wrap("ping", err)
		}
	}
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Close closes the pools.
func (s *Store) Close() error {
	closeStmts(s.reads)
	closeStmts(s.writes)
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	for _, f := range s.closers {
		f()
	}
	return err
}

// wrap adds context and maps driver errors to the store sentinels.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrRefreshReused), errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrInvalidInput):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case s.d.IsInvalidInput != nil && s.d.IsInvalidInput(err):
		return fmt.Errorf("%s: %w", op, store.ErrInvalidInput)
	case s.d.IsUniqueViolation != nil && s.d.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w", op, store.ErrConflict)
	case s.d.IsUnavailable != nil && s.d.IsUnavailable(err):
		return fmt.Errorf("%s: %w: %v", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// tx runs fn in one write transaction; fn's error rolls back.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs a statement inside tx, prepared if q is a hot query.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.writes[q]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.sqlText(q), args...)
}

// execAlone runs one write statement on the write pool as its own
// transaction, prepared if q is a hot write: a lone statement needs no
// BEGIN and COMMIT (on PostgreSQL, two round trips fewer).
func (s *Store) execAlone(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := s.writes[q]; st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.w.ExecContext(ctx, s.sqlText(q), args...)
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// insertAudit writes ev inside tx (R6: the audit row commits with the change).
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, ev *store.AuditEvent) error {
	if ev == nil {
		return nil
	}
	args, err := s.appendAuditArgs(nil, ev)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, qInsertAudit, args...); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// appendAuditArgs fills ev's id and time when unset and appends the
// arguments of qInsertAudit to dst.
func (s *Store) appendAuditArgs(dst []any, ev *store.AuditEvent) ([]any, error) {
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = s.now()
	}
	details, err := jsonText(ev.Details)
	if err != nil {
		return nil, err
	}
	return append(dst, ev.ID, s.d.t(ev.CreatedAt), ev.Type, ev.ActorID, ev.UserID, ev.Result, ev.IPAddress, ev.UserAgent, details), nil
}

// AppendAudit writes one audit event on its own.
func (s *Store) AppendAudit(ctx context.Context, ev *store.AuditEvent) error {
	return s.wrap("append audit", s.tx(ctx, func(tx *sql.Tx) error { return s.insertAudit(ctx, tx, ev) }))
}

// ---- users ----

const userColumns = `u.id, u.email, u.email_normalized, u.username, u.name, u.first_name, u.last_name, u.password_hash,
 u.email_verified, u.email_verified_at, u.status, u.failed_login_attempts, u.locked_until, u.last_login_at,
 u.last_login_ip, u.attributes, u.created_at, u.updated_at`

func (s *Store) userSelect() string {
	return `SELECT ` + userColumns + `, ` + s.rolesOf() + ` FROM users u`
}

// rolesOf is two correlated subqueries aggregating the roles and the
// direct permissions of users row u.
func (s *Store) rolesOf() string {
	return `(SELECT ` + fmt.Sprintf(s.d.Agg, "role") + ` FROM user_roles WHERE user_id = u.id),
 (SELECT ` + fmt.Sprintf(s.d.Agg, "permission") + ` FROM user_permissions WHERE user_id = u.id)`
}

func userDest(u *store.User) []any {
	return []any{&u.ID, &u.Email, &u.EmailNormalized, usernameScan{&u.Username}, &u.Name, &u.FirstName, &u.LastName, &u.PasswordHash,
		&u.EmailVerified, nullTimeScan{&u.EmailVerifiedAt}, &u.Status, &u.FailedLoginAttempts, nullTimeScan{&u.LockedUntil}, nullTimeScan{&u.LastLoginAt},
		&u.LastLoginIP, jsonMap{&u.Attributes}, timeScan{&u.CreatedAt}, timeScan{&u.UpdatedAt}}
}

type usernameScan struct{ dst **string }

func (s usernameScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.dst = nil
	case string:
		*s.dst = &v
	case []byte:
		str := string(v)
		*s.dst = &str
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into username", src)
	}
	return nil
}

func (s *Store) scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	dest := append(userDest(&u), listScan{&u.Roles}, listScan{&u.Permissions})
	if err := row.Scan(dest...); err != nil {
		return store.User{}, err
	}
	sort.Strings(u.Roles)
	sort.Strings(u.Permissions)
	return u, nil
}

// CreateUser inserts the user, its roles and the audit event atomically.
func (s *Store) CreateUser(ctx context.Context, u *store.User, roles []string, ev *store.AuditEvent) error {
	if u.ID == "" {
		u.ID = newID()
	}
	now := s.now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond) // what the database keeps
	u.UpdatedAt = u.CreatedAt
	if u.Status == "" {
		u.Status = store.UserActive
	}
	attrs, err := jsonText(u.Attributes)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO users (id, email, email_normalized, username, name, first_name, last_name, password_hash,
 email_verified, email_verified_at, status, failed_login_attempts, locked_until, last_login_at, last_login_ip, attributes, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.EmailNormalized, nullString{u.Username}, u.Name, u.FirstName, u.LastName, u.PasswordHash,
			u.EmailVerified, s.d.nt(u.EmailVerifiedAt), u.Status, u.FailedLoginAttempts, s.d.nt(u.LockedUntil), s.d.nt(u.LastLoginAt),
			u.LastLoginIP, attrs, s.d.t(u.CreatedAt), s.d.t(u.UpdatedAt))
		if err != nil {
			return err
		}
		if err := s.insertRoles(ctx, tx, u.ID, roles); err != nil {
			return err
		}
		if ev != nil && ev.UserID == "" {
			ev.UserID = u.ID
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.wrap("create user", err)
	}
	u.Roles = sortedUnique(roles)
	return nil
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, v := range out {
		if i == 0 || v != out[j-1] {
			out[j] = v
			j++
		}
	}
	return out[:j]
}

func (s *Store) insertRoles(ctx context.Context, tx *sql.Tx, userID string, roles []string) error {
	for _, r := range sortedUnique(roles) {
		var n int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM roles WHERE name = ?`), r).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("role %q: %w", r, store.ErrNotFound)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO user_roles (user_id, role) VALUES (?, ?)`, userID, r); err != nil {
			return err
		}
	}
	return nil
}

// GetUser returns the user with its roles.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if !validUUID(id) {
		return store.User{}, fmt.Errorf("get user: %w", store.ErrNotFound)
	}
	u, err := s.scanUser(s.r.QueryRowContext(ctx, s.d.rebind(s.userSelect()+` WHERE u.id = ?`), id))
	return u, s.wrap("get user", err)
}

// GetUserByEmail looks up by the normalised email.
func (s *Store) GetUserByEmail(ctx context.Context, emailNormalized string) (store.User, error) {
	u, err := s.scanUser(s.queryRow(ctx, s.q.userByEmail, emailNormalized))
	return u, s.wrap("get user by email", err)
}

func validUUID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// escapeLike escapes LIKE wildcards so a search is a plain substring match.
func escapeLike(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(q)
}

// ListUsers returns one page ordered by id.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, error) {
	where := []string{}
	args := []any{}
	if q.Query != "" {
		pat := "%" + escapeLike(strings.ToLower(q.Query)) + "%"
		where = append(where, `(u.email_normalized LIKE ? ESCAPE '\' OR lower(u.name) LIKE ? ESCAPE '\' OR lower(u.first_name || ' ' || u.last_name) LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat)
	}
	if q.After != "" {
		if !validUUID(q.After) {
			return nil, fmt.Errorf("list users: bad cursor: %w", store.ErrNotFound)
		}
		where = append(where, `u.id > ?`)
		args = append(args, q.After)
	}
	query := s.userSelect()
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query += fmt.Sprintf(` ORDER BY u.id LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := s.scanUser(rows)
		if err != nil {
			return nil, s.wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, s.wrap("list users", rows.Err())
}

// UpdateUser applies a patch.
func (s *Store) UpdateUser(ctx context.Context, id string, p store.UserPatch, now time.Time, ev *store.AuditEvent) (store.User, error) {
	if !validUUID(id) {
		return store.User{}, fmt.Errorf("update user: %w", store.ErrNotFound)
	}
	sets := []string{"updated_at = ?"}
	args := []any{s.d.t(now)}
	add := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if p.Name != nil {
		add("name", *p.Name)
	}
	if p.FirstName != nil {
		add("first_name", *p.FirstName)
	}
	if p.LastName != nil {
		add("last_name", *p.LastName)
	}
	if p.Email != nil {
		norm := strings.ToLower(strings.TrimSpace(*p.Email))
		if p.EmailNorm != nil {
			norm = *p.EmailNorm
		}
		// A new address is not verified, whatever the old one was. These
		// two assignments read the old email_normalized, so they go first.
		sets = append(sets, "email_verified = CASE WHEN email_normalized = ? THEN email_verified ELSE ? END",
			"email_verified_at = CASE WHEN email_normalized = ? THEN email_verified_at ELSE NULL END")
		args = append(args, norm, false, norm)
		add("email", *p.Email)
		add("email_normalized", norm)
	}
	if p.Attributes != nil {
		a, err := jsonText(p.Attributes)
		if err != nil {
			return store.User{}, err
		}
		add("attributes", a)
	}
	args = append(args, id)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return store.User{}, s.wrap("update user", err)
	}
	return s.GetUser(ctx, id)
}

// DeleteUser removes the user; sessions, refresh tokens and roles cascade.
func (s *Store) DeleteUser(ctx context.Context, id string, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("delete user: %w", store.ErrNotFound)
	}
	return s.wrap("delete user", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// SetUserStatus changes status; suspension ends every session at once (S16).
func (s *Store) SetUserStatus(ctx context.Context, id, status string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("set user status: %w", store.ErrNotFound)
	}
	return s.wrap("set user status", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET status = ?, updated_at = ? WHERE id = ?`, status, s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if status == store.UserSuspended {
			if _, err := s.revokeUserSessions(ctx, tx, id, "", now); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// RecordLoginFailure increments the counter in one statement.
func (s *Store) RecordLoginFailure(ctx context.Context, id string, threshold int, lockFor time.Duration, now time.Time) (store.LoginFailure, error) {
	var out store.LoginFailure
	lockUntil := now.Add(lockFor)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var prevLock *time.Time
		row := tx.QueryRowContext(ctx, s.d.rebind(`UPDATE users SET failed_login_attempts = failed_login_attempts + 1,
 locked_until = CASE WHEN failed_login_attempts + 1 >= ? THEN ? ELSE locked_until END, updated_at = ?
 WHERE id = ? RETURNING failed_login_attempts, locked_until`), threshold, s.d.t(lockUntil), s.d.t(now), id)
		if err := row.Scan(&out.Attempts, nullTimeScan{&prevLock}); err != nil {
			return err
		}
		if out.Attempts >= threshold && prevLock != nil {
			out.LockedUntil = prevLock
		}
		return nil
	})
	return out, s.wrap("record login failure", err)
}

// RehashPassword swaps the hash only where it is still oldHash (P1).
func (s *Store) RehashPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error) {
	if !validUUID(id) {
		return false, fmt.Errorf("rehash password: %w", store.ErrNotFound)
	}
	res, err := s.execAlone(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?`, newHash, s.d.t(now), id, oldHash)
	if err != nil {
		return false, s.wrap("rehash password", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	// Rare: tell a changed hash from a user who is gone.
	var one int
	if err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM users WHERE id = ?`), id).Scan(&one); err != nil {
		return false, s.wrap("rehash password", err)
	}
	return false, nil
}

// UnlockUser clears the lockout.
func (s *Store) UnlockUser(ctx context.Context, id string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("unlock user: %w", store.ErrNotFound)
	}
	return s.wrap("unlock user", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET failed_login_attempts = 0, locked_until = NULL, updated_at = ? WHERE id = ?`, s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// SetPassword replaces the hash and revokes the other sessions (P7).
func (s *Store) SetPassword(ctx context.Context, id, hash, keepSessionID string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("set password: %w", store.ErrNotFound)
	}
	return s.wrap("set password", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET password_hash = ?, failed_login_attempts = 0, locked_until = NULL, updated_at = ? WHERE id = ?`, hash, s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.revokeUserSessions(ctx, tx, id, keepSessionID, now); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// SetUserRoles replaces the user's roles.
func (s *Store) SetUserRoles(ctx context.Context, id string, roles []string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("set user roles: %w", store.ErrNotFound)
	}
	return s.wrap("set user roles", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET updated_at = ? WHERE id = ?`, s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM user_roles WHERE user_id = ?`, id); err != nil {
			return err
		}
		if err := s.insertRoles(ctx, tx, id, roles); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// CountUsersWithRole counts active users holding role.
func (s *Store) CountUsersWithRole(ctx context.Context, role string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE ur.role = ? AND u.status = 'active'`), role).Scan(&n)
	return n, s.wrap("count users with role", err)
}

// Open migrates the schema and prepares the hot-path statements.
func (s *Store) Open(ctx context.Context) error {
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	return s.prepare(ctx)
}
