package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// CreateOneTimeToken stores a one-time token (its hash) and the audit event.
func (s *Store) CreateOneTimeToken(ctx context.Context, t *store.OneTimeToken, ev *store.AuditEvent) error {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	meta, err := jsonText(t.Metadata)
	if err != nil {
		return err
	}
	var user any
	if t.UserID != "" {
		user = t.UserID
	}
	return s.wrap("create one-time token", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO one_time_tokens (id, type, token_hash, user_id, email, metadata, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Type, t.TokenHash, user, t.Email, meta, s.d.t(t.CreatedAt), s.d.t(t.ExpiresAt)); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// consume spends the token inside tx with one conditional UPDATE, so two
// concurrent redemptions cannot both succeed.
func (s *Store) consume(ctx context.Context, tx *sql.Tx, typ, hash string, now time.Time) (store.OneTimeToken, error) {
	var t store.OneTimeToken
	var user sql.NullString
	err := tx.QueryRowContext(ctx, s.d.rebind(`UPDATE one_time_tokens SET used_at = ?
 WHERE token_hash = ? AND type = ? AND used_at IS NULL AND expires_at > ?
 RETURNING id, type, token_hash, user_id, email, metadata, created_at, expires_at`),
		s.d.t(now), hash, typ, s.d.t(now)).
		Scan(&t.ID, &t.Type, &t.TokenHash, &user, &t.Email, jsonMap{&t.Metadata}, timeScan{&t.CreatedAt}, timeScan{&t.ExpiresAt})
	if err != nil {
		return store.OneTimeToken{}, err
	}
	t.UserID = user.String
	t.UsedAt = &now
	return t, nil
}

// ConsumeOneTimeToken spends one token of the given type.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, typ, tokenHash string, now time.Time, ev *store.AuditEvent) (store.OneTimeToken, error) {
	var t store.OneTimeToken
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if t, err = s.consume(ctx, tx, typ, tokenHash, now); err != nil {
			return err
		}
		if ev != nil && ev.UserID == "" {
			ev.UserID = t.UserID
		}
		return s.insertAudit(ctx, tx, ev)
	})
	return t, s.wrap("consume one-time token", err)
}

// VerifyEmail spends a verification token and marks the address verified.
func (s *Store) VerifyEmail(ctx context.Context, tokenHash string, now time.Time, ev *store.AuditEvent) (store.User, error) {
	var userID string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.consume(ctx, tx, store.TokenEmailVerification, tokenHash, now)
		if err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, `UPDATE users SET email_verified = ?, email_verified_at = ?, updated_at = ? WHERE id = ? AND email_normalized = ?`,
			true, s.d.t(now), s.d.t(now), t.UserID, t.Email)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound // the address changed since the mail was sent
		}
		userID = t.UserID
		if ev != nil {
			ev.UserID = t.UserID
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return store.User{}, s.wrap("verify email", err)
	}
	return s.GetUser(ctx, userID)
}

// ResetPassword completes a reset (O14, P7).
func (s *Store) ResetPassword(ctx context.Context, tokenHash, newHash string, now time.Time, ev *store.AuditEvent) (store.User, []string, error) {
	var userID string
	var revoked []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.consume(ctx, tx, store.TokenPasswordReset, tokenHash, now)
		if err != nil {
			return err
		}
		userID = t.UserID
		res, err := s.exec(ctx, tx, `UPDATE users SET password_hash = ?, failed_login_attempts = 0, locked_until = NULL, updated_at = ? WHERE id = ? AND email_normalized = ?`,
			newHash, s.d.t(now), userID, t.Email)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if revoked, err = s.revokeUserSessions(ctx, tx, userID, "", now); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND type = ? AND used_at IS NULL`,
			s.d.t(now), userID, store.TokenPasswordReset); err != nil {
			return err
		}
		if ev != nil {
			ev.UserID = userID
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return store.User{}, nil, s.wrap("reset password", err)
	}
	u, err := s.GetUser(ctx, userID)
	return u, revoked, err
}

// CreateUserFromInvitation redeems an invitation at signup (O13).
func (s *Store) CreateUserFromInvitation(ctx context.Context, tokenHash string, u *store.User, now time.Time, ev *store.AuditEvent) error {
	if u.ID == "" {
		u.ID = newID()
	}
	u.CreatedAt, u.UpdatedAt = now, now
	u.Status = store.UserActive
	u.EmailVerified, u.EmailVerifiedAt = true, &now
	attrs, err := jsonText(u.Attributes)
	if err != nil {
		return err
	}
	var roles []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.consume(ctx, tx, store.TokenInvitation, tokenHash, now)
		if err != nil {
			return err
		}
		if t.Email != u.EmailNormalized {
			return fmt.Errorf("invitation was sent to another address: %w", store.ErrNotFound)
		}
		if rs, ok := t.Metadata["roles"].([]any); ok {
			for _, r := range rs {
				if name, ok := r.(string); ok {
					roles = append(roles, name)
				}
			}
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO users (id, email, email_normalized, name, first_name, last_name, password_hash,
 email_verified, email_verified_at, status, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.EmailNormalized, u.Name, u.FirstName, u.LastName, u.PasswordHash,
			true, s.d.t(now), u.Status, attrs, s.d.t(now), s.d.t(now)); err != nil {
			return err
		}
		if err := s.insertRoles(ctx, tx, u.ID, roles); err != nil {
			return err
		}
		if ev != nil {
			ev.UserID = u.ID
			if ev.Details == nil {
				ev.Details = map[string]any{}
			}
			ev.Details["invitation_id"] = t.ID
			ev.Details["roles"] = roles
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return s.wrap("create user from invitation", err)
	}
	u.Roles = sortedUnique(roles)
	return nil
}

// MarkEmailVerified sets the verified flag.
func (s *Store) MarkEmailVerified(ctx context.Context, userID string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(userID) {
		return fmt.Errorf("mark email verified: %w", store.ErrNotFound)
	}
	return s.wrap("mark email verified", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET email_verified = ?, email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?`,
			true, s.d.t(now), s.d.t(now), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}
