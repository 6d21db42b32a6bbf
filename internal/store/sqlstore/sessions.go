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
)

const sessionColumns = `s.id, s.user_id, s.token_hash, s.status, s.ip_address, s.user_agent, s.amr, s.created_at, s.updated_at,
 s.last_seen_at, s.expires_at, s.idle_expires_at, s.logged_out_at, s.revoked_at`

// sessionUserSelect returns a session with its user and the user's roles
// in one round trip (X4).
const sessionUserSelect = `SELECT ` + sessionColumns + `, ` + userColumns + `, ROLES_OF FROM sessions s
 JOIN users u ON u.id = s.user_id`

func sessionDest(x *store.Session) []any {
	return []any{&x.ID, &x.UserID, &x.TokenHash, &x.Status, &x.IPAddress, &x.UserAgent, listScan{&x.AMR}, timeScan{&x.CreatedAt}, timeScan{&x.UpdatedAt},
		timeScan{&x.LastSeenAt}, timeScan{&x.ExpiresAt}, timeScan{&x.IdleExpiresAt}, nullTimeScan{&x.LoggedOutAt}, nullTimeScan{&x.RevokedAt}}
}

func (s *Store) scanSessionUser(row interface{ Scan(...any) error }) (store.Session, store.User, error) {
	var x store.Session
	var u store.User
	dest := append(sessionDest(&x), userDest(&u)...)
	dest = append(dest, listScan{&u.Roles}, listScan{&u.Permissions})
	if err := row.Scan(dest...); err != nil {
		return store.Session{}, store.User{}, err
	}
	sort.Strings(u.Roles)
	sort.Strings(u.Permissions)
	return x, u, nil
}

func (s *Store) sessionUserQuery(where string) string {
	return strings.Replace(sessionUserSelect, "ROLES_OF", s.rolesOf(), 1) + where
}

// CreateLoginSession records the login on the user, reads what the user's
// earlier sessions say of the device and stores the session with its
// refresh token and audit event, all in one transaction; on PostgreSQL in
// one statement (a login: one round trip where it took three).
func (s *Store) CreateLoginSession(ctx context.Context, x *store.Session, rt *store.RefreshToken, ev *store.AuditEvent) (store.Device, error) {
	if x.ID == "" {
		x.ID = newID()
	}
	if x.Status == "" {
		x.Status = store.SessionActive
	}
	if x.CreatedAt.IsZero() {
		x.CreatedAt = s.now()
	}
	if x.UpdatedAt.IsZero() {
		x.UpdatedAt = x.CreatedAt
	}
	if x.LastSeenAt.IsZero() {
		x.LastSeenAt = x.CreatedAt
	}
	if !validUUID(x.UserID) {
		return store.Device{}, fmt.Errorf("create login session: %w", store.ErrNotFound)
	}
	if rt != nil {
		rt.SessionID, rt.UserID = x.ID, x.UserID
	}
	if rt != nil && ev != nil && s.q.loginSession != "" {
		dev, err := s.createLoginSessionAlone(ctx, x, rt, ev)
		if err != nil && s.d.IsForeignKeyViolation != nil && s.d.IsForeignKeyViolation(err) {
			err = store.ErrNotFound // the one foreign key a new session can miss
		}
		return dev, s.wrap("create login session", err)
	}
	var dev store.Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, qLoginRecord, s.appendLoginArgs(nil, x)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if dev, err = s.scanDevice(s.txQueryRow(ctx, tx, qDeviceSeen, s.appendDeviceArgs(nil, x)...)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, qInsertSession, s.appendSessionArgs(nil, x)...); err != nil {
			return err
		}
		if rt != nil {
			if err := s.insertRefresh(ctx, tx, rt); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return store.Device{}, s.wrap("create login session", err)
	}
	return dev, nil
}

// createLoginSessionAlone is CreateLoginSession as one statement of
// data-modifying WITH clauses. They all see the snapshot the statement
// started with, so the device query does not see the new session; and the
// statement is all or nothing (an unknown user fails the session's
// foreign key, and the user update goes with it).
func (s *Store) createLoginSessionAlone(ctx context.Context, x *store.Session, rt *store.RefreshToken, ev *store.AuditEvent) (store.Device, error) {
	args := s.appendRefreshArgs(s.appendSessionArgs(s.appendLoginArgs(make([]any, 0, 35), x), x), rt)
	args, err := s.appendAuditArgs(args, ev)
	if err != nil {
		return store.Device{}, err
	}
	return s.scanDevice(s.w.QueryRowContext(ctx, s.q.loginSession, s.appendDeviceArgs(args, x)...))
}

// appendLoginArgs appends the arguments of qLoginRecord for the login that
// opens x.
func (s *Store) appendLoginArgs(dst []any, x *store.Session) []any {
	return append(dst, s.d.t(x.CreatedAt), x.IPAddress, s.d.t(x.CreatedAt), x.UserID)
}

// appendDeviceArgs appends the arguments of qDeviceSeen for x's device.
func (s *Store) appendDeviceArgs(dst []any, x *store.Session) []any {
	return append(dst, x.UserID, x.IPAddress, x.UserAgent, x.UserID)
}

func (s *Store) scanDevice(row *sql.Row) (store.Device, error) {
	var same, any int
	if err := row.Scan(&same, &any); err != nil {
		return store.Device{}, err
	}
	return store.Device{Known: same > 0, SeenBefore: any > 0}, nil
}

// appendSessionArgs appends the arguments of qInsertSession to dst.
func (s *Store) appendSessionArgs(dst []any, x *store.Session) []any {
	return append(dst, x.ID, x.UserID, x.TokenHash, x.Status, x.IPAddress, x.UserAgent, strings.Join(x.AMR, ","), s.d.t(x.CreatedAt), s.d.t(x.UpdatedAt),
		s.d.t(x.LastSeenAt), s.d.t(x.ExpiresAt), s.d.t(x.IdleExpiresAt))
}

// appendRefreshArgs fills rt's id and creation time when unset and appends
// the arguments of qInsertRefresh to dst.
func (s *Store) appendRefreshArgs(dst []any, rt *store.RefreshToken) []any {
	if rt.ID == "" {
		rt.ID = newID()
	}
	if rt.CreatedAt.IsZero() {
		rt.CreatedAt = s.now()
	}
	return append(dst, rt.ID, rt.SessionID, rt.UserID, rt.TokenHash, s.d.t(rt.CreatedAt), s.d.t(rt.ExpiresAt))
}

func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, rt *store.RefreshToken) error {
	_, err := s.exec(ctx, tx, qInsertRefresh, s.appendRefreshArgs(nil, rt)...)
	return err
}

// GetSessionByTokenHash returns the session and its user in one query.
func (s *Store) GetSessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, store.User, error) {
	x, u, err := s.scanSessionUser(s.queryRow(ctx, s.q.sessionByHash, tokenHash))
	return x, u, s.wrap("get session", err)
}

// GetSession returns the session by id with its user.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, store.User, error) {
	if !validUUID(id) {
		return store.Session{}, store.User{}, fmt.Errorf("get session: %w", store.ErrNotFound)
	}
	x, u, err := s.scanSessionUser(s.queryRow(ctx, s.q.sessionByID, id))
	return x, u, s.wrap("get session", err)
}

// TouchSession records activity and slides the idle expiry.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	if !validUUID(id) {
		return fmt.Errorf("touch session: %w", store.ErrNotFound)
	}
	return s.wrap("touch session", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, qTouchSession,
			s.d.t(lastSeen), s.d.t(idleExpires), s.d.t(lastSeen), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	}))
}

// ListActiveSessions lists the user's active, unexpired sessions, newest first.
func (s *Store) ListActiveSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	if !validUUID(userID) {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = ? AND s.status = 'active' AND s.expires_at > ? AND s.idle_expires_at > ? ORDER BY s.created_at DESC, s.id DESC`),
		userID, s.d.t(now), s.d.t(now))
	if err != nil {
		return nil, s.wrap("list sessions", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		var x store.Session
		if err := rows.Scan(sessionDest(&x)...); err != nil {
			return nil, s.wrap("list sessions", err)
		}
		out = append(out, x)
	}
	return out, s.wrap("list sessions", rows.Err())
}

// EndSession ends one active session and its refresh tokens.
func (s *Store) EndSession(ctx context.Context, id, status string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("end session: %w", store.ErrNotFound)
	}
	col := "revoked_at"
	if status == store.SessionLoggedOut {
		col = "logged_out_at"
	}
	return s.wrap("end session", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE sessions SET status = ?, `+col+` = ?, updated_at = ? WHERE id = ? AND status = 'active'`, status, s.d.t(now), s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL`, s.d.t(now), id); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

func (s *Store) revokeUserSessions(ctx context.Context, tx *sql.Tx, userID, exceptID string, now time.Time) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.d.rebind(`UPDATE sessions SET status = 'revoked', revoked_at = ?, updated_at = ? WHERE user_id = ? AND status = 'active' AND id <> ? RETURNING id`),
		s.d.t(now), s.d.t(now), userID, exceptOrNil(exceptID))
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := s.exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND session_id <> ?`, s.d.t(now), userID, exceptOrNil(exceptID)); err != nil {
		return nil, err
	}
	return ids, nil
}

// exceptOrNil gives a value that never equals a real id when none is kept.
func exceptOrNil(id string) string {
	if id == "" || !validUUID(id) {
		return "00000000-0000-0000-0000-000000000000"
	}
	return id
}

// RevokeUserSessions revokes all active sessions of the user but one.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, exceptID string, now time.Time, ev *store.AuditEvent) ([]string, error) {
	if !validUUID(userID) {
		return nil, fmt.Errorf("revoke sessions: %w", store.ErrNotFound)
	}
	var ids []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = s.revokeUserSessions(ctx, tx, userID, exceptID, now)
		if err != nil {
			return err
		}
		if ev != nil {
			if ev.Details == nil {
				ev.Details = map[string]any{}
			}
			ev.Details["revoked"] = len(ids)
		}
		return s.insertAudit(ctx, tx, ev)
	})
	return ids, s.wrap("revoke sessions", err)
}

// errReuseDetected carries a committed reuse verdict out of the transaction.
var errReuseDetected = errors.New("reuse detected")

// RotateRefreshToken spends one refresh token and issues the next (J13).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) (store.Session, store.User, error) {
	var x store.Session
	var u store.User
	reused := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id, sessionID, userID string
		var expires time.Time
		var used, revoked *time.Time
		err := s.txQueryRow(ctx, tx, s.q.refreshByHash, oldHash).
			Scan(&id, &sessionID, &userID, timeScan{&expires}, nullTimeScan{&used}, nullTimeScan{&revoked})
		if err != nil {
			return err
		}
		if used != nil {
			// Reuse of a spent token: the family is compromised (J13).
			if _, err := s.exec(ctx, tx, `UPDATE sessions SET status = 'revoked', revoked_at = ?, updated_at = ? WHERE id = ? AND status = 'active'`, s.d.t(now), s.d.t(now), sessionID); err != nil {
				return err
			}
			if _, err := s.exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL`, s.d.t(now), sessionID); err != nil {
				return err
			}
			reused = true
			x.ID, x.UserID = sessionID, userID
			return s.insertAudit(ctx, tx, &store.AuditEvent{Type: "session.revoked", UserID: userID, Result: "success",
				Details: map[string]any{"session_id": sessionID, "reason": "refresh_token_reuse"}})
		}
		if revoked != nil || !expires.After(now) {
			return store.ErrNotFound
		}
		res, err := s.exec(ctx, tx, qSpendRefresh, s.d.t(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		x, u, err = s.scanSessionUser(s.txQueryRow(ctx, tx, s.q.sessionByID, sessionID))
		if err != nil {
			return err
		}
		if x.Status != store.SessionActive || !x.ExpiresAt.After(now) || !x.IdleExpiresAt.After(now) || u.Status != store.UserActive {
			return store.ErrNotFound
		}
		next.SessionID, next.UserID = sessionID, userID
		if next.ExpiresAt.IsZero() || next.ExpiresAt.After(x.ExpiresAt) {
			next.ExpiresAt = x.ExpiresAt // never outlive the session
		}
		if next.CreatedAt.IsZero() {
			next.CreatedAt = now
		}
		return s.insertRefresh(ctx, tx, next)
	})
	if err == nil && reused {
		return x, store.User{}, fmt.Errorf("rotate refresh token: %w", store.ErrRefreshReused)
	}
	return x, u, s.wrap("rotate refresh token", err)
}

// ExpireSessions moves overdue sessions to expired and purges old rows.
func (s *Store) ExpireSessions(ctx context.Context, now, purgeBefore time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 500
	}
	total := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, fmt.Sprintf(`UPDATE sessions SET status = 'expired', updated_at = ? WHERE id IN (
 SELECT id FROM sessions WHERE status = 'active' AND (expires_at <= ? OR idle_expires_at <= ?) LIMIT %d)`, limit),
			s.d.t(now), s.d.t(now), s.d.t(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		total += int(n)
		res, err = s.exec(ctx, tx, fmt.Sprintf(`DELETE FROM refresh_tokens WHERE id IN (
 SELECT id FROM refresh_tokens WHERE expires_at <= ? OR revoked_at <= ? LIMIT %d)`, limit), s.d.t(purgeBefore), s.d.t(purgeBefore))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		total += int(n)
		res, err = s.exec(ctx, tx, fmt.Sprintf(`DELETE FROM one_time_tokens WHERE id IN (
 SELECT id FROM one_time_tokens WHERE expires_at <= ? LIMIT %d)`, limit), s.d.t(purgeBefore))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		total += int(n)
		res, err = s.exec(ctx, tx, fmt.Sprintf(`DELETE FROM sessions WHERE id IN (
 SELECT id FROM sessions WHERE status <> 'active' AND updated_at <= ? LIMIT %d)`, limit), s.d.t(purgeBefore))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		total += int(n)
		return nil
	})
	return total, s.wrap("expire sessions", err)
}

// EndedSessions reads the revocation feed.
func (s *Store) EndedSessions(ctx context.Context, since time.Time, limit int) ([]store.EndedSession, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(fmt.Sprintf(`SELECT id, updated_at FROM sessions
 WHERE updated_at > ? AND status <> 'active' ORDER BY updated_at, id LIMIT %d`, limit)), s.d.t(since))
	if err != nil {
		return nil, s.wrap("ended sessions", err)
	}
	defer rows.Close()
	var out []store.EndedSession
	for rows.Next() {
		var e store.EndedSession
		if err := rows.Scan(&e.ID, timeScan{&e.EndedAt}); err != nil {
			return nil, s.wrap("ended sessions", err)
		}
		out = append(out, e)
	}
	return out, s.wrap("ended sessions", rows.Err())
}
