package authz

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// RoleStore is what RBAC reads.
type RoleStore interface {
	ListRoles(ctx context.Context) ([]store.Role, error)
}

// RBAC answers "which permissions do these roles grant" from a cached
// snapshot of the role tables.
type RBAC struct {
	st   RoleStore
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises reloads
}

type snapshot struct {
	loaded time.Time
	perms  map[string]map[string]struct{} // role -> permission set
	roles  []store.Role
	// union memoises Permissions per role list (joined by ","); the
	// snapshot is immutable, so entries never go stale.
	union    sync.Map
	memoized atomic.Int64 // bounds union
}

// NewRBAC returns an RBAC that loads lazily on first use.
func NewRBAC(st RoleStore) *RBAC { return &RBAC{st: st} }

// Invalidate drops the snapshot; the next check reloads it.
func (r *RBAC) Invalidate() { r.snap.Store(nil) }

// snapshotTTL bounds how long a snapshot is trusted without reloading:
// changes made by another process (another replica) are seen within it;
// changes made through this process apply at once (Invalidate).
const snapshotTTL = 30 * time.Second

func (r *RBAC) load(ctx context.Context) (*snapshot, error) {
	if s := r.snap.Load(); s != nil && time.Since(s.loaded) < snapshotTTL {
		return s, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.snap.Load(); s != nil && time.Since(s.loaded) < snapshotTTL {
		return s, nil
	}
	roles, err := r.st.ListRoles(ctx)
	if err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	s := &snapshot{loaded: time.Now(), perms: map[string]map[string]struct{}{}, roles: roles}
	for _, role := range roles {
		set := map[string]struct{}{}
		for _, p := range role.Permissions {
			set[p] = struct{}{}
		}
		s.perms[role.Name] = set
	}
	r.snap.Store(s)
	return s, nil
}

// Roles returns every role with its permissions.
func (r *RBAC) Roles(ctx context.Context) ([]store.Role, error) {
	s, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	return s.roles, nil
}

// RoleExists reports whether a role of that name exists.
func (r *RBAC) RoleExists(ctx context.Context, name string) (bool, error) {
	s, err := r.load(ctx)
	if err != nil {
		return false, err
	}
	_, ok := s.perms[name]
	return ok, nil
}

// Permissions returns the sorted union of the roles' permissions.
func (r *RBAC) Permissions(ctx context.Context, roles []string) ([]string, error) {
	s, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	if len(roles) > 64 {
		roles = roles[:64:64] // more roles than any real user holds
	}
	key := strings.Join(roles, ",")
	if v, ok := s.union.Load(key); ok {
		return v.([]string), nil
	}
	seen := map[string]struct{}{}
	out := []string{}
	for _, role := range roles {
		for p := range s.perms[role] {
			if _, ok := seen[p]; !ok {
				seen[p] = struct{}{}
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	out = slices.Clip(out)
	if len(key) <= 512 && s.memoized.Add(1) <= 10_000 {
		s.union.Store(key, out)
	}
	return out, nil
}

// GrantingRole returns the first of roles that grants perm.
func (r *RBAC) GrantingRole(ctx context.Context, roles []string, perm string) (string, bool, error) {
	s, err := r.load(ctx)
	if err != nil {
		return "", false, err
	}
	for _, role := range roles {
		if _, ok := s.perms[role][perm]; ok {
			return role, true, nil
		}
	}
	return "", false, nil
}

// Has reports whether any of the roles grants perm. Unknown roles grant
// nothing (Z15: default deny).
func (r *RBAC) Has(ctx context.Context, roles []string, perm string) (bool, error) {
	s, err := r.load(ctx)
	if err != nil {
		return false, err
	}
	for _, role := range roles {
		if _, ok := s.perms[role][perm]; ok {
			return true, nil
		}
	}
	return false, nil
}
