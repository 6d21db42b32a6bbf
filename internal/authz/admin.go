package authz

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// Errors of the management operations.
var (
	// ErrEscalation: the actor tried to grant a permission they lack (Z10).
	ErrEscalation = errors.New("cannot grant permissions you do not hold")
	// ErrBuiltin: builtin roles cannot be deleted, and admin keeps every
	// permission.
	ErrBuiltin = fmt.Errorf("builtin roles cannot be changed this way: %w", store.ErrConflict)
)

// AdminStore is the persistence of the management operations.
type AdminStore interface {
	Store
	GetRole(ctx context.Context, name string) (store.Role, error)
	CreateRole(ctx context.Context, r *store.Role, ev *store.AuditEvent) error
	UpdateRole(ctx context.Context, name string, description *string, permissions []string, ev *store.AuditEvent) (store.Role, error)
	DeleteRole(ctx context.Context, name string, ev *store.AuditEvent) error
	ListPermissions(ctx context.Context) ([]store.Permission, error)
	CreatePermission(ctx context.Context, p *store.Permission, grantTo []string, ev *store.AuditEvent) error
	SetUserPermissions(ctx context.Context, userID string, perms []string, now time.Time, ev *store.AuditEvent) error
	CreateRelation(ctx context.Context, r *store.Relation, ev *store.AuditEvent) error
	DeleteRelation(ctx context.Context, r store.Relation, ev *store.AuditEvent) error
	ListRelations(ctx context.Context, q store.RelationQuery) ([]store.Relation, error)
	CreatePolicy(ctx context.Context, p *store.Policy, ev *store.AuditEvent) error
	DeletePolicy(ctx context.Context, id string, ev *store.AuditEvent) error
}

// Admin manages roles, permissions, grants, relations and policies; every
// change is audited and invalidates the caches it affects at once.
type Admin struct {
	st     AdminStore
	rbac   *RBAC
	engine *Engine
	// OnUserChanged drops cached sessions of a user whose grants changed.
	OnUserChanged func(userID string)
	// OnChanged is told after roles, permissions, relations or policies
	// changed (fan-out to other replicas).
	OnChanged func()
}

func (a *Admin) changed() {
	if a.OnChanged != nil {
		a.OnChanged()
	}
}

// NewAdmin builds the management service.
func NewAdmin(st AdminStore, rbac *RBAC, engine *Engine, onUserChanged func(string)) *Admin {
	if onUserChanged == nil {
		onUserChanged = func(string) {}
	}
	return &Admin{st: st, rbac: rbac, engine: engine, OnUserChanged: onUserChanged}
}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	permRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}(\.[a-z0-9_*-]{1,63}){0,3}$`)
	typeRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	actionRE = regexp.MustCompile(`^(\*|[a-z][a-z0-9_-]{0,62}(\.[a-z0-9_*-]{1,63}){0,3})$`)
)

// ValidPermission reports whether s is a well-formed permission name.
func ValidPermission(s string) bool { return permRE.MatchString(s) }

// ValidAction reports whether s is a well-formed action ("posts.update"):
// actionRE, matched by hand because every check runs it.
func ValidAction(s string) bool { return s == "*" || isPermission(s) }

// ValidResourceType reports whether s is a well-formed resource type:
// typeRE, matched by hand because every check runs it.
func ValidResourceType(s string) bool { return isName(s) }

// isName matches ^[a-z][a-z0-9_-]{0,62}$.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isPermission matches ^[a-z][a-z0-9_-]{0,62}(\.[a-z0-9_*-]{1,63}){0,3}$.
func isPermission(s string) bool {
	head, rest, dotted := strings.Cut(s, ".")
	if !isName(head) {
		return false
	}
	for n := 0; dotted; n++ {
		if n == 3 {
			return false
		}
		var seg string
		seg, rest, dotted = strings.Cut(rest, ".")
		if len(seg) == 0 || len(seg) > 63 {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '*' || c == '-') {
				return false
			}
		}
	}
	return true
}

// actorPermissions is everything the actor holds: roles plus direct grants.
func (a *Admin) actorPermissions(ctx context.Context, actor store.User) (map[string]bool, error) {
	perms, err := a.rbac.Permissions(ctx, actor.Roles)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, p := range append(perms, actor.Permissions...) {
		have[p] = true
	}
	return have, nil
}

// checkGrant refuses unknown permissions (400) and permissions the actor
// does not hold (Z10: no self-escalation).
func (a *Admin) checkGrant(ctx context.Context, actor store.User, field string, perms []string) error {
	if len(perms) == 0 {
		return nil
	}
	known, err := a.st.ListPermissions(ctx)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(known))
	for _, p := range known {
		exists[p.Name] = true
	}
	var verr validation.Errors
	for _, p := range perms {
		if !exists[p] {
			verr.Add(field, fmt.Sprintf("%q does not exist", p))
		}
	}
	if err := verr.Err(); err != nil {
		return err
	}
	have, err := a.actorPermissions(ctx, actor)
	if err != nil {
		return err
	}
	for _, p := range perms {
		if !have[p] {
			return fmt.Errorf("%w: %s", ErrEscalation, p)
		}
	}
	return nil
}

func checkPermissionNames(field string, perms []string, errs *validation.Errors) {
	for _, p := range perms {
		if !ValidPermission(p) {
			errs.Add(field, fmt.Sprintf("%q is not a permission name like posts.update", p))
		}
	}
}

// Roles lists every role.
func (a *Admin) Roles(ctx context.Context) ([]store.Role, error) { return a.rbac.Roles(ctx) }

// Role returns one role.
func (a *Admin) Role(ctx context.Context, name string) (store.Role, error) {
	return a.st.GetRole(ctx, name)
}

// CreateRole adds a role whose permissions the actor holds.
func (a *Admin) CreateRole(ctx context.Context, actor store.User, name, description string, perms []string) (store.Role, error) {
	var errs validation.Errors
	if !nameRE.MatchString(name) {
		errs.Add("name", "must be 1-63 lowercase letters, digits, - or _, starting with a letter")
	}
	desc, problem := validation.Text(description, 500)
	if problem != "" {
		errs.Add("description", problem)
	}
	checkPermissionNames("permissions", perms, &errs)
	if err := errs.Err(); err != nil {
		return store.Role{}, err
	}
	if err := a.checkGrant(ctx, actor, "permissions", perms); err != nil {
		return store.Role{}, err
	}
	r := &store.Role{Name: name, Description: desc, Permissions: perms}
	ev := audit.MetaFrom(ctx).Event("role.created", audit.Success, "", map[string]any{"role": name, "permissions": perms})
	if err := a.st.CreateRole(ctx, r, ev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Role{}, validation.Errors{{Field: "permissions", Message: "names a permission that does not exist"}}
		}
		return store.Role{}, fmt.Errorf("create role: %w", err)
	}
	a.rbac.Invalidate()
	a.changed()
	return a.st.GetRole(ctx, name)
}

// UpdateRole changes a role's description and/or permissions.
func (a *Admin) UpdateRole(ctx context.Context, actor store.User, name string, description *string, perms []string) (store.Role, error) {
	var errs validation.Errors
	if description != nil {
		d, problem := validation.Text(*description, 500)
		if problem != "" {
			errs.Add("description", problem)
		}
		description = &d
	}
	checkPermissionNames("permissions", perms, &errs)
	if err := errs.Err(); err != nil {
		return store.Role{}, err
	}
	if perms != nil && name == "admin" {
		return store.Role{}, ErrBuiltin
	}
	if err := a.checkGrant(ctx, actor, "permissions", perms); err != nil {
		return store.Role{}, err
	}
	ev := audit.MetaFrom(ctx).Event("role.updated", audit.Success, "", map[string]any{"role": name, "permissions": perms})
	r, err := a.st.UpdateRole(ctx, name, description, perms, ev)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && perms != nil {
			if _, gerr := a.st.GetRole(ctx, name); gerr == nil {
				return store.Role{}, validation.Errors{{Field: "permissions", Message: "names a permission that does not exist"}}
			}
		}
		return store.Role{}, fmt.Errorf("update role: %w", err)
	}
	a.rbac.Invalidate() // Z16: the next check sees the change
	a.changed()
	return r, nil
}

// DeleteRole removes a custom role.
func (a *Admin) DeleteRole(ctx context.Context, name string) error {
	r, err := a.st.GetRole(ctx, name)
	if err != nil {
		return fmt.Errorf("delete role: %w", err)
	}
	if r.Builtin {
		return ErrBuiltin
	}
	ev := audit.MetaFrom(ctx).Event("role.deleted", audit.Success, "", map[string]any{"role": name})
	if err := a.st.DeleteRole(ctx, name, ev); err != nil {
		return fmt.Errorf("delete role: %w", err)
	}
	a.rbac.Invalidate()
	a.changed()
	return nil
}

// Permissions lists every permission.
func (a *Admin) Permissions(ctx context.Context) ([]store.Permission, error) {
	return a.st.ListPermissions(ctx)
}

// CreatePermission adds a permission; the admin role gets it at once.
func (a *Admin) CreatePermission(ctx context.Context, name, description string) (store.Permission, error) {
	var errs validation.Errors
	if !ValidPermission(name) {
		errs.Add("name", "must look like posts.update: lowercase words joined by dots")
	}
	desc, problem := validation.Text(description, 500)
	if problem != "" {
		errs.Add("description", problem)
	}
	if err := errs.Err(); err != nil {
		return store.Permission{}, err
	}
	p := &store.Permission{Name: name, Description: desc}
	ev := audit.MetaFrom(ctx).Event("permission.created", audit.Success, "", map[string]any{"permission": name})
	if err := a.st.CreatePermission(ctx, p, []string{"admin"}, ev); err != nil {
		return store.Permission{}, fmt.Errorf("create permission: %w", err)
	}
	a.rbac.Invalidate()
	a.changed()
	return *p, nil
}

// SetUserPermissions replaces a user's direct grants (Z11).
func (a *Admin) SetUserPermissions(ctx context.Context, actor store.User, userID string, perms []string) error {
	var errs validation.Errors
	checkPermissionNames("permissions", perms, &errs)
	if err := errs.Err(); err != nil {
		return err
	}
	if err := a.checkGrant(ctx, actor, "permissions", perms); err != nil {
		return err
	}
	sort.Strings(perms)
	ev := audit.MetaFrom(ctx).Event("user.permissions_changed", audit.Success, userID, map[string]any{"permissions": perms})
	err := a.st.SetUserPermissions(ctx, userID, perms, time.Now().UTC(), ev)
	if errors.Is(err, store.ErrNotFound) && len(perms) > 0 {
		return fmt.Errorf("set permissions: %w", err)
	}
	if err != nil {
		return fmt.Errorf("set permissions: %w", err)
	}
	a.OnUserChanged(userID)
	return nil
}

// RelationInput is one ACL tuple as the API names it.
type RelationInput struct {
	SubjectType, SubjectID, Permission, ResourceType, ResourceID string
}

func (in RelationInput) validate() error {
	var errs validation.Errors
	if in.SubjectType != "user" && in.SubjectType != "role" {
		errs.Add("subject.type", `must be "user" or "role"`)
	}
	if in.SubjectID == "" || len(in.SubjectID) > 200 {
		errs.Add("subject.id", "is required (at most 200 characters)")
	}
	if !ValidPermission(in.Permission) {
		errs.Add("permission", "must look like posts.update")
	}
	if !ValidResourceType(in.ResourceType) {
		errs.Add("resource.type", "must be a lowercase word like post")
	}
	if in.ResourceID == "" || len(in.ResourceID) > 200 || strings.ContainsAny(in.ResourceID, "\x00\r\n") {
		errs.Add("resource.id", "is required (at most 200 characters)")
	}
	return errs.Err()
}

func (in RelationInput) relation() store.Relation {
	return store.Relation{SubjectType: in.SubjectType, SubjectID: in.SubjectID, Permission: in.Permission, ResourceType: in.ResourceType, ResourceID: in.ResourceID}
}

// Grant stores an ACL tuple (Z12).
func (a *Admin) Grant(ctx context.Context, actor store.User, in RelationInput) (store.Relation, error) {
	if err := in.validate(); err != nil {
		return store.Relation{}, err
	}
	if err := a.checkGrant(ctx, actor, "permission", []string{in.Permission}); err != nil {
		return store.Relation{}, err
	}
	r := in.relation()
	ev := audit.MetaFrom(ctx).Event("relation.created", audit.Success, userTarget(in), map[string]any{"relation": in})
	if err := a.st.CreateRelation(ctx, &r, ev); err != nil {
		return store.Relation{}, fmt.Errorf("grant: %w", err)
	}
	a.engine.InvalidateRelations()
	a.changed()
	return r, nil
}

// Revoke removes an ACL tuple.
func (a *Admin) Revoke(ctx context.Context, in RelationInput) error {
	if err := in.validate(); err != nil {
		return err
	}
	ev := audit.MetaFrom(ctx).Event("relation.deleted", audit.Success, userTarget(in), map[string]any{"relation": in})
	if err := a.st.DeleteRelation(ctx, in.relation(), ev); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	a.engine.InvalidateRelations()
	a.changed()
	return nil
}

func userTarget(in RelationInput) string {
	if in.SubjectType == "user" {
		return in.SubjectID
	}
	return ""
}

// Relations lists tuples.
func (a *Admin) Relations(ctx context.Context, q store.RelationQuery) ([]store.Relation, error) {
	return a.st.ListRelations(ctx, q)
}

// Policies lists the policies.
func (a *Admin) Policies(ctx context.Context) ([]store.Policy, error) { return a.engine.Policies(ctx) }

// CreatePolicy compiles and stores a policy; a condition that does not
// compile or type-check is a validation error with the compiler's message.
// An allow policy can grant only actions the actor holds (Z10); "*" needs
// every permission there is.
func (a *Admin) CreatePolicy(ctx context.Context, actor store.User, p store.Policy) (store.Policy, error) {
	var errs validation.Errors
	if !nameRE.MatchString(p.Name) {
		errs.Add("name", "must be 1-63 lowercase letters, digits, - or _, starting with a letter")
	}
	if p.Effect != "allow" && p.Effect != "deny" {
		errs.Add("effect", `must be "allow" or "deny"`)
	}
	if len(p.Actions) == 0 || len(p.Actions) > 50 {
		errs.Add("actions", "must list 1 to 50 actions")
	}
	for _, act := range p.Actions {
		if !ValidAction(act) {
			errs.Add("actions", fmt.Sprintf("%q is not an action like posts.update (or *)", act))
		}
	}
	if p.ResourceType != "" && p.ResourceType != "*" && !ValidResourceType(p.ResourceType) {
		errs.Add("resource_type", "must be a lowercase word like post, or empty for any")
	}
	desc, problem := validation.Text(p.Description, 500)
	if problem != "" {
		errs.Add("description", problem)
	}
	p.Description = desc
	if _, err := a.engine.Compile(p.Condition); err != nil {
		errs.Add("condition", strings.TrimPrefix(err.Error(), ErrBadCondition.Error()+": "))
	}
	if err := errs.Err(); err != nil {
		return store.Policy{}, err
	}
	if p.Effect == "allow" {
		if err := a.checkPolicyActions(ctx, actor, p.Actions); err != nil {
			return store.Policy{}, err
		}
	}
	p.ID, p.CreatedAt = "", time.Time{}
	ev := audit.MetaFrom(ctx).Event("policy.created", audit.Success, "", map[string]any{"policy": p.Name, "effect": p.Effect, "actions": p.Actions})
	if err := a.st.CreatePolicy(ctx, &p, ev); err != nil {
		return store.Policy{}, fmt.Errorf("create policy: %w", err)
	}
	a.engine.InvalidatePolicies()
	a.changed()
	return p, nil
}

func (a *Admin) checkPolicyActions(ctx context.Context, actor store.User, actions []string) error {
	have, err := a.actorPermissions(ctx, actor)
	if err != nil {
		return err
	}
	need := actions
	if slices.Contains(actions, "*") {
		all, err := a.st.ListPermissions(ctx)
		if err != nil {
			return err
		}
		need = nil
		for _, p := range all {
			need = append(need, p.Name)
		}
	}
	for _, p := range need {
		if p != "*" && !have[p] {
			return fmt.Errorf("%w: %s", ErrEscalation, p)
		}
	}
	return nil
}

// DeletePolicy removes a policy.
func (a *Admin) DeletePolicy(ctx context.Context, id string) error {
	ev := audit.MetaFrom(ctx).Event("policy.deleted", audit.Success, "", map[string]any{"policy_id": id})
	if err := a.st.DeletePolicy(ctx, id, ev); err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	a.engine.InvalidatePolicies()
	a.changed()
	return nil
}
