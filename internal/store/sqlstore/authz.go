package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// GetRole returns one role with its permissions.
func (s *Store) GetRole(ctx context.Context, name string) (store.Role, error) {
	var r store.Role
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT name, description, builtin, created_at FROM roles WHERE name = ?`), name).
		Scan(&r.Name, &r.Description, &r.Builtin, timeScan{&r.CreatedAt})
	if err != nil {
		return store.Role{}, s.wrap("get role", err)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT permission FROM role_permissions WHERE role = ? ORDER BY permission`), name)
	if err != nil {
		return store.Role{}, s.wrap("get role", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return store.Role{}, s.wrap("get role", err)
		}
		r.Permissions = append(r.Permissions, p)
	}
	return r, s.wrap("get role", rows.Err())
}

func (s *Store) setRolePermissions(ctx context.Context, tx *sql.Tx, role string, perms []string) error {
	if _, err := s.exec(ctx, tx, `DELETE FROM role_permissions WHERE role = ?`, role); err != nil {
		return err
	}
	for _, p := range sortedUnique(perms) {
		if err := s.requirePermission(ctx, tx, p); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO role_permissions (role, permission) VALUES (?, ?)`, role, p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) requirePermission(ctx context.Context, tx *sql.Tx, p string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM permissions WHERE name = ?`), p).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("permission %q: %w", p, store.ErrNotFound)
	}
	return nil
}

// CreateRole adds a role with its permissions.
func (s *Store) CreateRole(ctx context.Context, r *store.Role, ev *store.AuditEvent) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	return s.wrap("create role", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO roles (name, description, builtin, created_at) VALUES (?, ?, ?, ?)`, r.Name, r.Description, false, s.d.t(r.CreatedAt)); err != nil {
			return err
		}
		if err := s.setRolePermissions(ctx, tx, r.Name, r.Permissions); err != nil {
			return err
		}
		r.Permissions = sortedUnique(r.Permissions)
		return s.insertAudit(ctx, tx, ev)
	}))
}

// UpdateRole changes a role's description and/or permissions.
func (s *Store) UpdateRole(ctx context.Context, name string, description *string, permissions []string, ev *store.AuditEvent) (store.Role, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM roles WHERE name = ?`), name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if description != nil {
			if _, err := s.exec(ctx, tx, `UPDATE roles SET description = ? WHERE name = ?`, *description, name); err != nil {
				return err
			}
		}
		if permissions != nil {
			if err := s.setRolePermissions(ctx, tx, name, permissions); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return store.Role{}, s.wrap("update role", err)
	}
	return s.GetRole(ctx, name)
}

// DeleteRole removes a role; user_roles and role_permissions cascade.
func (s *Store) DeleteRole(ctx context.Context, name string, ev *store.AuditEvent) error {
	return s.wrap("delete role", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM relations WHERE subject_type = 'role' AND subject_id = ?`, name); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, `DELETE FROM roles WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// CreatePermission adds a permission and grants it to the given roles.
func (s *Store) CreatePermission(ctx context.Context, p *store.Permission, grantTo []string, ev *store.AuditEvent) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	return s.wrap("create permission", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO permissions (name, description, created_at) VALUES (?, ?, ?)`, p.Name, p.Description, s.d.t(p.CreatedAt)); err != nil {
			return err
		}
		for _, r := range sortedUnique(grantTo) {
			if _, err := s.exec(ctx, tx, `INSERT INTO role_permissions (role, permission) VALUES (?, ?)`, r, p.Name); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// SetUserPermissions replaces a user's direct permissions.
func (s *Store) SetUserPermissions(ctx context.Context, userID string, perms []string, now time.Time, ev *store.AuditEvent) error {
	if !validUUID(userID) {
		return fmt.Errorf("set user permissions: %w", store.ErrNotFound)
	}
	return s.wrap("set user permissions", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET updated_at = ? WHERE id = ?`, s.d.t(now), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM user_permissions WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, p := range sortedUnique(perms) {
			if err := s.requirePermission(ctx, tx, p); err != nil {
				return err
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO user_permissions (user_id, permission) VALUES (?, ?)`, userID, p); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

const relationColumns = `id, subject_type, subject_id, permission, resource_type, resource_id, created_at`

func scanRelation(row interface{ Scan(...any) error }) (store.Relation, error) {
	var r store.Relation
	err := row.Scan(&r.ID, &r.SubjectType, &r.SubjectID, &r.Permission, &r.ResourceType, &r.ResourceID, timeScan{&r.CreatedAt})
	return r, err
}

// CreateRelation stores an ACL tuple; an identical one is ErrConflict.
func (s *Store) CreateRelation(ctx context.Context, r *store.Relation, ev *store.AuditEvent) error {
	if r.ID == "" {
		r.ID = newID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	return s.wrap("create relation", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO relations (`+relationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.SubjectType, r.SubjectID, r.Permission, r.ResourceType, r.ResourceID, s.d.t(r.CreatedAt)); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// DeleteRelation removes one tuple.
func (s *Store) DeleteRelation(ctx context.Context, r store.Relation, ev *store.AuditEvent) error {
	return s.wrap("delete relation", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM relations WHERE resource_type = ? AND resource_id = ? AND permission = ? AND subject_type = ? AND subject_id = ?`,
			r.ResourceType, r.ResourceID, r.Permission, r.SubjectType, r.SubjectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// ListRelations filters tuples by subject and/or resource.
func (s *Store) ListRelations(ctx context.Context, q store.RelationQuery) ([]store.Relation, error) {
	query := `SELECT ` + relationColumns + ` FROM relations WHERE 1=1`
	var args []any
	for _, f := range []struct{ col, v string }{{"subject_type", q.SubjectType}, {"subject_id", q.SubjectID}, {"resource_type", q.ResourceType}, {"resource_id", q.ResourceID}} {
		if f.v != "" {
			query += ` AND ` + f.col + ` = ?`
			args = append(args, f.v)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, s.wrap("list relations", err)
	}
	defer rows.Close()
	var out []store.Relation
	for rows.Next() {
		r, err := scanRelation(rows)
		if err != nil {
			return nil, s.wrap("list relations", err)
		}
		out = append(out, r)
	}
	return out, s.wrap("list relations", rows.Err())
}

// FindRelation is the ACL lookup of a check: one indexed query.
func (s *Store) FindRelation(ctx context.Context, subjects []store.Subject, permission, resourceType, resourceID string) (store.Relation, bool, error) {
	if len(subjects) == 0 {
		return store.Relation{}, false, nil
	}
	var ors []string
	args := []any{resourceType, resourceID, permission}
	for _, sub := range subjects {
		ors = append(ors, `(subject_type = ? AND subject_id = ?)`)
		args = append(args, sub.Type, sub.ID)
	}
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+relationColumns+` FROM relations
 WHERE resource_type = ? AND resource_id = ? AND permission = ? AND (`+strings.Join(ors, ` OR `)+`) LIMIT 1`), args...)
	r, err := scanRelation(row)
	if err == sql.ErrNoRows {
		return store.Relation{}, false, nil
	}
	if err != nil {
		return store.Relation{}, false, s.wrap("find relation", err)
	}
	return r, true, nil
}

// RelationKinds lists the (resource type, permission) pairs in use.
func (s *Store) RelationKinds(ctx context.Context) ([][2]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT resource_type, permission FROM relations`)
	if err != nil {
		return nil, s.wrap("relation kinds", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return nil, s.wrap("relation kinds", err)
		}
		out = append(out, k)
	}
	return out, s.wrap("relation kinds", rows.Err())
}

// ListPolicies returns every policy by name.
func (s *Store) ListPolicies(ctx context.Context) ([]store.Policy, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, description, effect, actions, resource_type, condition, created_at FROM policies ORDER BY name`)
	if err != nil {
		return nil, s.wrap("list policies", err)
	}
	defer rows.Close()
	var out []store.Policy
	for rows.Next() {
		var p store.Policy
		var actions string
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.Effect, &actions, &p.ResourceType, &p.Condition, timeScan{&p.CreatedAt}); err != nil {
			return nil, s.wrap("list policies", err)
		}
		if err := json.Unmarshal([]byte(actions), &p.Actions); err != nil {
			return nil, fmt.Errorf("list policies: bad actions of %s: %w", p.Name, err)
		}
		sort.Strings(p.Actions)
		out = append(out, p)
	}
	return out, s.wrap("list policies", rows.Err())
}

// CreatePolicy stores a policy; names are unique.
func (s *Store) CreatePolicy(ctx context.Context, p *store.Policy, ev *store.AuditEvent) error {
	if p.ID == "" {
		p.ID = newID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	actions, err := json.Marshal(p.Actions)
	if err != nil {
		return err
	}
	return s.wrap("create policy", s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO policies (id, name, description, effect, actions, resource_type, condition, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.Description, p.Effect, string(actions), p.ResourceType, p.Condition, s.d.t(p.CreatedAt)); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// DeletePolicy removes a policy by id.
func (s *Store) DeletePolicy(ctx context.Context, id string, ev *store.AuditEvent) error {
	if !validUUID(id) {
		return fmt.Errorf("delete policy: %w", store.ErrNotFound)
	}
	return s.wrap("delete policy", s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM policies WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.insertAudit(ctx, tx, ev)
	}))
}

// BulkInsertRelations stores n tuples made by gen in one transaction with
// one prepared statement (seeding large ACLs for imports and benchmarks).
func (s *Store) BulkInsertRelations(ctx context.Context, n int, gen func(i int) store.Relation) error {
	return s.wrap("bulk insert relations", s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.d.rebind(`INSERT INTO relations (`+relationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		now := s.d.t(s.now())
		for i := 0; i < n; i++ {
			r := gen(i)
			if _, err := stmt.ExecContext(ctx, newID(), r.SubjectType, r.SubjectID, r.Permission, r.ResourceType, r.ResourceID, now); err != nil {
				return err
			}
		}
		return nil
	}))
}
