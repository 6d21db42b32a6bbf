package sqlstore

import (
	"context"
	"database/sql"
	"sort"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// ListRoles returns every role with its permissions, by name.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, description, builtin, created_at FROM roles ORDER BY name`)
	if err != nil {
		return nil, s.wrap("list roles", err)
	}
	var roles []store.Role
	idx := map[string]int{}
	for rows.Next() {
		var r store.Role
		if err := rows.Scan(&r.Name, &r.Description, &r.Builtin, timeScan{&r.CreatedAt}); err != nil {
			rows.Close()
			return nil, s.wrap("list roles", err)
		}
		idx[r.Name] = len(roles)
		roles = append(roles, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list roles", err)
	}
	prows, err := s.r.QueryContext(ctx, `SELECT role, permission FROM role_permissions ORDER BY role, permission`)
	if err != nil {
		return nil, s.wrap("list roles", err)
	}
	defer prows.Close()
	for prows.Next() {
		var role, perm string
		if err := prows.Scan(&role, &perm); err != nil {
			return nil, s.wrap("list roles", err)
		}
		if i, ok := idx[role]; ok {
			roles[i].Permissions = append(roles[i].Permissions, perm)
		}
	}
	for i := range roles {
		sort.Strings(roles[i].Permissions)
	}
	return roles, s.wrap("list roles", prows.Err())
}

// ListPermissions returns every permission by name.
func (s *Store) ListPermissions(ctx context.Context) ([]store.Permission, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, description, created_at FROM permissions ORDER BY name`)
	if err != nil {
		return nil, s.wrap("list permissions", err)
	}
	defer rows.Close()
	var out []store.Permission
	for rows.Next() {
		var p store.Permission
		if err := rows.Scan(&p.Name, &p.Description, timeScan{&p.CreatedAt}); err != nil {
			return nil, s.wrap("list permissions", err)
		}
		out = append(out, p)
	}
	return out, s.wrap("list permissions", rows.Err())
}

// ListAudit returns a page of audit events, newest first.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	query := `SELECT id, created_at, type, actor_id, user_id, result, ip_address, user_agent, details FROM audit_events WHERE 1=1`
	var args []any
	if q.UserID != "" {
		query += ` AND (user_id = ? OR actor_id = ?)`
		args = append(args, q.UserID, q.UserID)
	}
	if q.Type != "" {
		query += ` AND type = ?`
		args = append(args, q.Type)
	}
	if q.Before != "" {
		if !validUUID(q.Before) {
			return nil, nil
		}
		query += ` AND id < ?`
		args = append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.ID, timeScan{&e.CreatedAt}, &e.Type, &e.ActorID, &e.UserID, &e.Result, &e.IPAddress, &e.UserAgent, jsonMap{&e.Details}); err != nil {
			return nil, s.wrap("list audit", err)
		}
		out = append(out, e)
	}
	return out, s.wrap("list audit", rows.Err())
}

// ListSigningKeys returns every signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kid, algorithm, private_key, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, s.wrap("list signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := rows.Scan(&k.KID, &k.Algorithm, &k.PrivateKey, &k.PublicJWK, timeScan{&k.CreatedAt}, nullTimeScan{&k.RetiredAt}); err != nil {
			return nil, s.wrap("list signing keys", err)
		}
		out = append(out, k)
	}
	return out, s.wrap("list signing keys", rows.Err())
}

// CreateSigningKey stores a new key.
func (s *Store) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	return s.wrap("create signing key", s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.KID, k.Algorithm, k.PrivateKey, k.PublicJWK, s.d.t(k.CreatedAt), s.d.nt(k.RetiredAt))
		return err
	}))
}
