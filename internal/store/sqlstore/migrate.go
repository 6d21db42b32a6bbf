package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationsFS embed.FS

// migration is one versioned step: SQL from an embedded file, or Go code
// (the seed) that must run exactly once.
type migration struct {
	version int
	name    string
	sql     string
	fn      func(ctx context.Context, tx *sql.Tx, d *Dialect, now time.Time) error
}

func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + s.d.Name
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version prefix", name)
		}
		b, err := migrationsFS.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	ms = append(ms, migration{version: 2, name: "0002_seed_roles (go)", fn: seedRBAC},
		migration{version: 5, name: "0005_seed_policies (go)", fn: seedPolicies})
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("duplicate migration version %d", ms[i].version)
		}
	}
	return ms, nil
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction, in version order. It is
// safe to run from several processes at once: on PostgreSQL an advisory
// lock serialises them; on SQLite the write transaction does.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`
	if _, err := s.w.ExecContext(ctx, create); err != nil {
		return s.wrap("create schema_migrations", err)
	}
	for _, m := range ms {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if s.d.Name == "postgres" {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7411532)`); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if m.sql != "" {
				if _, err := tx.ExecContext(ctx, m.sql); err != nil {
					return fmt.Errorf("apply %s: %w", m.name, err)
				}
			}
			if m.fn != nil {
				if err := m.fn(ctx, tx, s.d, s.now()); err != nil {
					return fmt.Errorf("apply %s: %w", m.name, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, s.now().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return s.wrap("migrate", err)
		}
	}
	return nil
}

// Seeded permissions and roles (D3, Z2-Z4). The admin role holds every
// permission, including the admin-only ones the admin API needs.
var (
	basePermissions = []string{
		"users.read", "users.create", "users.update", "users.delete",
		"posts.read", "posts.create", "posts.update", "posts.delete",
	}
	// AdminPermissions gate the admin API and the policy engine.
	adminPermissions = []string{
		"admin.access", "roles.read", "roles.manage", "roles.assign",
		"permissions.manage", "audit.read", "authz.check",
		"relations.manage", "policies.manage", "invitations.create",
		"oauth_clients.manage", "keys.rotate",
	}
	seedRoles = []struct {
		name, desc string
		perms      []string
	}{
		{"admin", "Full access, including the admin API", nil}, // nil: all
		{"editor", "Reads users, reads and writes posts", []string{"users.read", "posts.read", "posts.create", "posts.update"}},
		{"viewer", "Default role: reads users and posts", []string{"users.read", "posts.read"}},
	}
)

// SeedPermissionNames returns every permission the seed creates.
func SeedPermissionNames() []string {
	return append(append([]string(nil), basePermissions...), adminPermissions...)
}

func seedRBAC(ctx context.Context, tx *sql.Tx, d *Dialect, now time.Time) error {
	all := SeedPermissionNames()
	for _, p := range all {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO permissions (name, description, created_at) VALUES (?, '', ?) ON CONFLICT DO NOTHING`), p, d.t(now)); err != nil {
			return err
		}
	}
	for _, r := range seedRoles {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO roles (name, description, builtin, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`), r.name, r.desc, true, d.t(now)); err != nil {
			return err
		}
		perms := r.perms
		if perms == nil {
			perms = all
		}
		for _, p := range perms {
			if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO role_permissions (role, permission) VALUES (?, ?) ON CONFLICT DO NOTHING`), r.name, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// SeedPolicies are the two ABAC examples of the source documents (Z9,
// Z13): authors edit their own posts; engineering reads internal
// documents in business hours. They are ordinary policies: admins may
// delete them.
var seedPolicyList = []struct{ name, desc, effect, actions, resourceType, condition string }{
	{"authors-edit-own-posts", "Authors may update their own posts (ownership rule).", "allow", `["posts.update"]`, "post",
		`has(resource.attributes.author_id) && resource.attributes.author_id == subject.id`},
	{"engineering-internal-docs-business-hours", "Engineering may read internal documents on weekdays from 09:00 to 17:00 UTC.", "allow", `["documents.read"]`, "document",
		`has(subject.attributes.department) && subject.attributes.department == "engineering" && has(resource.attributes.classification) && resource.attributes.classification == "internal" && context.now.getDayOfWeek("UTC") >= 1 && context.now.getDayOfWeek("UTC") <= 5 && context.now.getHours("UTC") >= 9 && context.now.getHours("UTC") < 17`},
}

func seedPolicies(ctx context.Context, tx *sql.Tx, d *Dialect, now time.Time) error {
	for _, p := range seedPolicyList {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO policies (id, name, description, effect, actions, resource_type, condition, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			newID(), p.name, p.desc, p.effect, p.actions, p.resourceType, p.condition, d.t(now)); err != nil {
			return err
		}
	}
	return nil
}
