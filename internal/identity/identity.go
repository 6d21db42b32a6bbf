package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// Errors the HTTP layer maps to problem codes.
var (
	// ErrInvalidCredentials is the one answer for every failed login
	// (L3/L4): unknown email, wrong password, locked or suspended.
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrEmailTaken         = fmt.Errorf("email already registered: %w", store.ErrConflict)
	ErrNotFound           = store.ErrNotFound
	// ErrLastAdmin refuses to remove, suspend or delete the last admin.
	ErrLastAdmin = fmt.Errorf("the last active admin cannot lose admin access: %w", store.ErrConflict)
	// ErrEscalation refuses to grant a role with permissions the actor lacks.
	ErrEscalation = errors.New("cannot grant permissions you do not hold")
	// ErrSelf refuses an admin action on one's own account that would lock
	// the actor out (suspend, delete).
	ErrSelf = errors.New("cannot do this to your own account")
	// ErrEmailNotVerified: the password was right but verification is
	// required first. Only someone holding the password learns this.
	ErrEmailNotVerified = errors.New("email address not verified")
	// ErrInvalidInvitation: unknown, expired, used, or for another address.
	ErrInvalidInvitation = errors.New("invalid or expired invitation")
)

// AdminRole is the role that must always have at least one active holder.
const AdminRole = "admin"

// Store is the persistence identity needs.
type Store interface {
	CreateUser(ctx context.Context, u *store.User, roles []string, ev *store.AuditEvent) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByEmail(ctx context.Context, emailNormalized string) (store.User, error)
	ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, p store.UserPatch, now time.Time, ev *store.AuditEvent) (store.User, error)
	DeleteUser(ctx context.Context, id string, ev *store.AuditEvent) error
	SetUserStatus(ctx context.Context, id, status string, now time.Time, ev *store.AuditEvent) error
	RecordLoginFailure(ctx context.Context, id string, threshold int, lockFor time.Duration, now time.Time) (store.LoginFailure, error)
	RehashPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error)
	UnlockUser(ctx context.Context, id string, now time.Time, ev *store.AuditEvent) error
	SetPassword(ctx context.Context, id, hash, keepSessionID string, now time.Time, ev *store.AuditEvent) error
	SetUserRoles(ctx context.Context, id string, roles []string, now time.Time, ev *store.AuditEvent) error
	CountUsersWithRole(ctx context.Context, role string) (int, error)
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
	CreateUserFromInvitation(ctx context.Context, tokenHash string, u *store.User, now time.Time, ev *store.AuditEvent) error
}

// Hasher hashes and verifies passwords through the bounded pool.
type Hasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, pw string) error
	// Busy hints that a hash asked for now would be refused, returning
	// that refusal (ErrBusy, with its advised wait), or nil.
	Busy() error
}

// Roles answers questions about roles (the RBAC cache).
type Roles interface {
	RoleExists(ctx context.Context, name string) (bool, error)
	Permissions(ctx context.Context, roles []string) ([]string, error)
}

// Options configure the service.
type Options struct {
	LockoutThreshold int
	LockoutDuration  time.Duration
	DefaultRole      string
	Policy           password.Policy
	Now              func() time.Time
	Log              *slog.Logger
	// OnUserChanged is called after any change that must reach cached
	// sessions at once: suspension, deletion, roles, password, profile.
	OnUserChanged func(userID string)
	// OnLocked is called when repeated failures lock an account (the
	// notice mail of R3).
	OnLocked func(ctx context.Context, u store.User, until time.Time)
	// RequireEmailVerification refuses logins before verification.
	RequireEmailVerification bool
}

// Service implements the account use cases.
type Service struct {
	st    Store
	h     Hasher
	roles Roles
	o     Options
}

// New builds the service.
func New(st Store, h Hasher, roles Roles, o Options) *Service {
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DefaultRole == "" {
		o.DefaultRole = "viewer"
	}
	if o.LockoutThreshold <= 0 {
		o.LockoutThreshold = 5
	}
	if o.LockoutDuration <= 0 {
		o.LockoutDuration = 30 * time.Minute
	}
	if o.OnUserChanged == nil {
		o.OnUserChanged = func(string) {}
	}
	if o.OnLocked == nil {
		o.OnLocked = func(context.Context, store.User, time.Time) {}
	}
	return &Service{st: st, h: h, roles: roles, o: o}
}

// SetOnUserChanged sets the user-changed hook after construction.
func (s *Service) SetOnUserChanged(f func(userID string)) { s.o.OnUserChanged = f }

// SetOnLocked sets the lockout hook after construction (the mail flows
// that send the notice are built after the identity service). Call it
// before the service is used.
func (s *Service) SetOnLocked(f func(ctx context.Context, u store.User, until time.Time)) {
	s.o.OnLocked = f
}

// Profile is the user-editable part of an account.
type Profile struct {
	Name      *string
	FirstName *string
	LastName  *string
}

// SignupInput is what a newcomer sends (U3: name or first/last).
type SignupInput struct {
	Email    string
	Password string
	Profile
	// InvitationToken, when set, redeems an invitation: the user gets the
	// roles stored with it and a verified email (O13).
	InvitationToken string
}

// NewUserInput is an admin-created account.
type NewUserInput struct {
	SignupInput
	Roles         []string
	EmailVerified bool
}

const maxNameLength = 200

func checkProfile(p Profile, errs *validation.Errors) Profile {
	var out Profile
	for _, f := range []struct {
		name string
		in   *string
		out  **string
	}{{"name", p.Name, &out.Name}, {"first_name", p.FirstName, &out.FirstName}, {"last_name", p.LastName, &out.LastName}} {
		if f.in == nil {
			continue
		}
		v, problem := validation.Text(*f.in, maxNameLength)
		if problem != "" {
			errs.Add(f.name, problem)
			continue
		}
		*f.out = &v
	}
	// A name given only as first/last becomes the display name too.
	if out.Name == nil && (out.FirstName != nil || out.LastName != nil) {
		full := strings.TrimSpace(deref(out.FirstName) + " " + deref(out.LastName))
		out.Name = &full
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Service) checkPassword(pw, email string, p Profile, field string, errs *validation.Errors) {
	if pw == "" {
		errs.Add(field, "is required")
		return
	}
	local := email
	if i := strings.IndexByte(email, '@'); i > 0 {
		local = email[:i]
	}
	if err := s.o.Policy.Check(pw, local, deref(p.Name), deref(p.FirstName), deref(p.LastName)); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			errs.Add(field, pe.Reason)
			return
		}
		errs.Add(field, err.Error())
	}
}

func (s *Service) newUser(ctx context.Context, in SignupInput) (*store.User, error) {
	var errs validation.Errors
	// The normalised form is stored and shown everywhere (U1).
	_, norm, problem := validation.NormalizeEmail(in.Email)
	if problem != "" {
		errs.Add("email", problem)
	}
	prof := checkProfile(in.Profile, &errs)
	s.checkPassword(in.Password, norm, prof, "password", &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	hash, err := s.h.Hash(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return &store.User{Email: norm, EmailNormalized: norm, PasswordHash: hash,
		Name: deref(prof.Name), FirstName: deref(prof.FirstName), LastName: deref(prof.LastName)}, nil
}

// Signup creates an account with the default role (U13). Clients never set
// roles or status (U12).
func (s *Service) Signup(ctx context.Context, in SignupInput) (store.User, error) {
	u, err := s.newUser(ctx, in)
	if err != nil {
		return store.User{}, err
	}
	if in.InvitationToken != "" {
		ev := audit.MetaFrom(ctx).Event(audit.UserSignup, audit.Success, "", map[string]any{"via": "invitation"})
		err := s.st.CreateUserFromInvitation(ctx, secret.Digest(in.InvitationToken), u, s.o.Now(), ev)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.User{}, ErrInvalidInvitation
		case errors.Is(err, store.ErrConflict):
			return store.User{}, ErrEmailTaken
		case err != nil:
			return store.User{}, fmt.Errorf("signup: %w", err)
		}
		return *u, nil
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserSignup, audit.Success, "", nil)
	if err := s.st.CreateUser(ctx, u, []string{s.o.DefaultRole}, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, fmt.Errorf("signup: %w", err)
	}
	return *u, nil
}

// Create is the admin's account creation, with chosen roles.
func (s *Service) Create(ctx context.Context, actor store.User, in NewUserInput) (store.User, error) {
	u, err := s.newUser(ctx, in.SignupInput)
	if err != nil {
		return store.User{}, err
	}
	roles := in.Roles
	if roles == nil {
		roles = []string{s.o.DefaultRole}
	}
	if err := s.CheckGrant(ctx, actor, roles); err != nil {
		return store.User{}, err
	}
	if in.EmailVerified {
		now := s.o.Now()
		u.EmailVerified, u.EmailVerifiedAt = true, &now
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserCreated, audit.Success, "", map[string]any{"roles": roles})
	if err := s.st.CreateUser(ctx, u, roles, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return *u, nil
}

// Bootstrap creates a user with roles without an acting admin (the CLI's
// `users create`, which runs with the operator's authority).
func (s *Service) Bootstrap(ctx context.Context, in NewUserInput) (store.User, error) {
	u, err := s.newUser(ctx, in.SignupInput)
	if err != nil {
		return store.User{}, err
	}
	var verr validation.Errors
	for _, r := range in.Roles {
		ok, err := s.roles.RoleExists(ctx, r)
		if err != nil {
			return store.User{}, err
		}
		if !ok {
			verr.Add("roles", fmt.Sprintf("unknown role %q", r))
		}
	}
	if err := verr.Err(); err != nil {
		return store.User{}, err
	}
	if in.EmailVerified {
		now := s.o.Now()
		u.EmailVerified, u.EmailVerifiedAt = true, &now
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserCreated, audit.Success, "", map[string]any{"roles": in.Roles, "via": "cli"})
	if err := s.st.CreateUser(ctx, u, in.Roles, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return *u, nil
}

// CheckGrant enforces Z10 for anything that hands out roles (account
// creation, role changes, invitations): the roles must exist and grant
// nothing the actor does not hold through their roles or direct grants.
func (s *Service) CheckGrant(ctx context.Context, actor store.User, roles []string) error {
	var verr validation.Errors
	for _, r := range roles {
		ok, err := s.roles.RoleExists(ctx, r)
		if err != nil {
			return err
		}
		if !ok {
			verr.Add("roles", fmt.Sprintf("unknown role %q", r))
		}
	}
	if err := verr.Err(); err != nil {
		return err
	}
	have, err := s.held(ctx, actor)
	if err != nil {
		return err
	}
	want, err := s.roles.Permissions(ctx, roles)
	if err != nil {
		return err
	}
	for _, p := range want {
		if !have[p] {
			return fmt.Errorf("%w: %s", ErrEscalation, p)
		}
	}
	return nil
}

// Login checks an email and password. Every failure returns
// ErrInvalidCredentials after the same amount of hashing work (L6-L8); the
// real reason goes only to the audit log (L5). A failure counts toward the
// lockout here; a success is recorded with the session it opens
// (session.Create, L14), and an outdated hash is replaced here (P1).
func (s *Service) Login(ctx context.Context, email, pw string) (store.User, error) {
	meta := audit.MetaFrom(ctx)
	_, norm, problem := validation.NormalizeEmail(email)
	fail := func(userID, reason string) (store.User, error) {
		ev := meta.Event(audit.LoginFailed, audit.Failure, userID, map[string]any{"reason": reason, "email": norm})
		if err := s.st.AppendAudit(ctx, ev); err != nil {
			s.o.Log.ErrorContext(ctx, "audit login failure", "err", err)
		}
		return store.User{}, ErrInvalidCredentials
	}
	dummy := func(userID, reason string) (store.User, error) {
		if err := s.h.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, fmt.Errorf("login: %w", err)
		}
		return fail(userID, reason)
	}
	if err := s.h.Busy(); err != nil {
		// The pool would refuse the hash anyway: refuse before the
		// database read, so a login flood costs little beyond the hashes
		// it gets. The answer is the same for every address.
		return store.User{}, fmt.Errorf("login: %w", err)
	}
	if problem != "" {
		return dummy("", "invalid_email")
	}
	u, err := s.st.GetUserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		return dummy("", "unknown_user")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("login: %w", err)
	}
	now := s.o.Now()
	switch {
	case u.Status != store.UserActive:
		return dummy(u.ID, "suspended")
	case u.LockedUntil != nil && u.LockedUntil.After(now):
		return dummy(u.ID, "locked")
	case u.PasswordHash == "":
		return dummy(u.ID, "no_password")
	}
	ok, rehash, err := s.h.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrUnknownFormat) {
		return store.User{}, fmt.Errorf("login: %w", err)
	}
	if !ok {
		lf, err := s.st.RecordLoginFailure(ctx, u.ID, s.o.LockoutThreshold, s.o.LockoutDuration, now)
		if err != nil {
			return store.User{}, fmt.Errorf("login: %w", err)
		}
		if lf.LockedUntil != nil && lf.Attempts == s.o.LockoutThreshold {
			ev := meta.Event(audit.UserLocked, audit.Success, u.ID, map[string]any{"until": lf.LockedUntil.Format(time.RFC3339), "attempts": lf.Attempts})
			if err := s.st.AppendAudit(ctx, ev); err != nil {
				s.o.Log.ErrorContext(ctx, "audit lockout", "err", err)
			}
			s.o.Log.WarnContext(ctx, "account locked after repeated failures", "user_id", u.ID)
			s.o.OnLocked(ctx, u, *lf.LockedUntil)
		}
		return fail(u.ID, "bad_password")
	}
	if s.o.RequireEmailVerification && !u.EmailVerified {
		if err := s.st.AppendAudit(ctx, meta.Event(audit.LoginFailed, audit.Failure, u.ID, map[string]any{"reason": "email_not_verified", "email": norm})); err != nil {
			s.o.Log.ErrorContext(ctx, "audit login failure", "err", err)
		}
		return store.User{}, ErrEmailNotVerified
	}
	if rehash {
		u.PasswordHash = s.rehash(ctx, u, pw, now)
	}
	return u, nil
}

// rehash replaces u's verified hash with one made with the current
// parameters (P1: imported bcrypt and legacy hashes, changed argon2id
// settings). It is best effort: the login stands if it fails, and the
// next login tries again. A password changed since the check is kept. It
// returns the hash the user has now, as far as this login knows.
func (s *Service) rehash(ctx context.Context, u store.User, pw string, now time.Time) string {
	replaced := false
	newHash, err := s.h.Hash(ctx, pw)
	if err == nil {
		replaced, err = s.st.RehashPassword(ctx, u.ID, u.PasswordHash, newHash, now)
	}
	if err != nil {
		s.o.Log.WarnContext(ctx, "password rehash at login failed; the next login retries", "user_id", u.ID, "err", err)
	}
	if !replaced {
		return u.PasswordHash
	}
	return newHash
}

// Get returns one user.
func (s *Service) Get(ctx context.Context, id string) (store.User, error) {
	u, err := s.st.GetUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// UpdateProfile changes the caller's own profile (U12: only these fields).
func (s *Service) UpdateProfile(ctx context.Context, id string, p Profile) (store.User, error) {
	return s.update(ctx, id, p, nil, nil)
}

// ErrTargetOutranks refuses an admin action on a user who holds
// permissions the actor does not: a limited admin must not be able to
// take over (edit the email of, demote, suspend) a more powerful account.
var ErrTargetOutranks = errors.New("the user holds permissions you do not")

// Authorize loads the target of an admin action and checks that the actor
// holds every permission the target holds (roles and direct grants). An
// actor acting on themself passes.
func (s *Service) Authorize(ctx context.Context, actor store.User, targetID string) (store.User, error) {
	target, err := s.st.GetUser(ctx, targetID)
	if err != nil {
		return store.User{}, fmt.Errorf("load user: %w", err)
	}
	if target.ID == actor.ID {
		return target, nil
	}
	have, err := s.held(ctx, actor)
	if err != nil {
		return store.User{}, err
	}
	theirs, err := s.held(ctx, target)
	if err != nil {
		return store.User{}, err
	}
	for p := range theirs {
		if !have[p] {
			return store.User{}, ErrTargetOutranks
		}
	}
	return target, nil
}

// held is every permission u holds: through roles and directly.
func (s *Service) held(ctx context.Context, u store.User) (map[string]bool, error) {
	perms, err := s.roles.Permissions(ctx, u.Roles)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(perms)+len(u.Permissions))
	for _, p := range perms {
		have[p] = true
	}
	for _, p := range u.Permissions {
		have[p] = true
	}
	return have, nil
}

// AdminPatch is what an admin may change on a user.
type AdminPatch struct {
	Profile
	Email      *string
	Attributes map[string]any
}

// AdminUpdate changes a user's profile, email or attributes.
func (s *Service) AdminUpdate(ctx context.Context, actor store.User, id string, p AdminPatch) (store.User, error) {
	if _, err := s.Authorize(ctx, actor, id); err != nil {
		return store.User{}, err
	}
	// Attributes feed ABAC policies: nobody sets their own.
	if id == actor.ID && p.Attributes != nil {
		return store.User{}, ErrSelf
	}
	return s.update(ctx, id, p.Profile, p.Email, p.Attributes)
}

func (s *Service) update(ctx context.Context, id string, p Profile, email *string, attrs map[string]any) (store.User, error) {
	var errs validation.Errors
	prof := checkProfile(p, &errs)
	if p.Name == nil && (p.FirstName != nil || p.LastName != nil) {
		prof.Name = nil // keep the display name unless asked
	}
	patch := store.UserPatch{Name: prof.Name, FirstName: prof.FirstName, LastName: prof.LastName, Attributes: attrs}
	if email != nil {
		_, norm, problem := validation.NormalizeEmail(*email)
		if problem != "" {
			errs.Add("email", problem)
		}
		patch.Email, patch.EmailNorm = &norm, &norm
	}
	if err := errs.Err(); err != nil {
		return store.User{}, err
	}
	fields := []string{}
	for name, set := range map[string]bool{"name": patch.Name != nil, "first_name": patch.FirstName != nil, "last_name": patch.LastName != nil, "email": email != nil, "attributes": attrs != nil} {
		if set {
			fields = append(fields, name)
		}
	}
	sort.Strings(fields)
	ev := audit.MetaFrom(ctx).Event(audit.UserUpdated, audit.Success, id, map[string]any{"fields": fields})
	u, err := s.st.UpdateUser(ctx, id, patch, s.o.Now(), ev)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrEmailTaken
		}
		return store.User{}, fmt.Errorf("update user: %w", err)
	}
	s.o.OnUserChanged(id)
	return u, nil
}

// NewPasswordHash checks a new password against the policy (with the
// user's own details as forbidden inputs) and hashes it. field names the
// input in validation errors.
func (s *Service) NewPasswordHash(ctx context.Context, u store.User, pw, field string) (string, error) {
	var errs validation.Errors
	s.checkPassword(pw, u.EmailNormalized, Profile{Name: &u.Name, FirstName: &u.FirstName, LastName: &u.LastName}, field, &errs)
	if err := errs.Err(); err != nil {
		return "", err
	}
	hash, err := s.h.Hash(ctx, pw)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// ChangePassword checks the current password and sets a new one, revoking
// every other session of the user (P7).
func (s *Service) ChangePassword(ctx context.Context, userID, keepSessionID, current, next string) error {
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	var errs validation.Errors
	if current == "" {
		errs.Add("current_password", "is required")
	}
	s.checkPassword(next, u.EmailNormalized, Profile{Name: &u.Name, FirstName: &u.FirstName, LastName: &u.LastName}, "new_password", &errs)
	if err := errs.Err(); err != nil {
		return err
	}
	ok, _, err := s.h.Verify(ctx, current, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrUnknownFormat) {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		ev := audit.MetaFrom(ctx).Event(audit.PasswordChanged, audit.Failure, userID, map[string]any{"reason": "bad_current_password"})
		if err := s.st.AppendAudit(ctx, ev); err != nil {
			s.o.Log.ErrorContext(ctx, "audit password change", "err", err)
		}
		return ErrInvalidCredentials
	}
	hash, err := s.h.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ev := audit.MetaFrom(ctx).Event(audit.PasswordChanged, audit.Success, userID, nil)
	if err := s.st.SetPassword(ctx, userID, hash, keepSessionID, s.o.Now(), ev); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.o.OnUserChanged(userID)
	return nil
}

// List returns a page of users.
func (s *Service) List(ctx context.Context, q store.UserQuery) ([]store.User, error) {
	us, err := s.st.ListUsers(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// wouldOrphanAdmins reports whether taking admin away from target leaves
// no active admin.
func (s *Service) wouldOrphanAdmins(ctx context.Context, target store.User) (bool, error) {
	if target.Status != store.UserActive || !contains(target.Roles, AdminRole) {
		return false, nil
	}
	n, err := s.st.CountUsersWithRole(ctx, AdminRole)
	if err != nil {
		return false, err
	}
	return n <= 1, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// SetStatus suspends or reactivates a user. Suspension ends every session
// at once (S16).
func (s *Service) SetStatus(ctx context.Context, actor store.User, id, status string) error {
	target, err := s.Authorize(ctx, actor, id)
	if err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	typ := audit.UserUnsuspended
	if status == store.UserSuspended {
		typ = audit.UserSuspended
		if id == actor.ID {
			return ErrSelf
		}
		orphan, err := s.wouldOrphanAdmins(ctx, target)
		if err != nil {
			return err
		}
		if orphan {
			return ErrLastAdmin
		}
	}
	ev := audit.MetaFrom(ctx).Event(typ, audit.Success, id, nil)
	if err := s.st.SetUserStatus(ctx, id, status, s.o.Now(), ev); err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	s.o.OnUserChanged(id)
	return nil
}

// Unlock clears a lockout.
func (s *Service) Unlock(ctx context.Context, actor store.User, id string) error {
	if _, err := s.Authorize(ctx, actor, id); err != nil {
		return err
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserUnlocked, audit.Success, id, nil)
	if err := s.st.UnlockUser(ctx, id, s.o.Now(), ev); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

// Delete removes a user and everything that hangs off it.
func (s *Service) Delete(ctx context.Context, actor store.User, id string) error {
	if id == actor.ID {
		return ErrSelf
	}
	target, err := s.Authorize(ctx, actor, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	orphan, err := s.wouldOrphanAdmins(ctx, target)
	if err != nil {
		return err
	}
	if orphan {
		return ErrLastAdmin
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserDeleted, audit.Success, id, map[string]any{"email": target.EmailNormalized})
	if err := s.st.DeleteUser(ctx, id, ev); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	s.o.OnUserChanged(id)
	return nil
}

// SetRoles replaces a user's roles (Z10: no escalation, last admin kept).
func (s *Service) SetRoles(ctx context.Context, actor store.User, id string, roles []string) (store.User, error) {
	target, err := s.Authorize(ctx, actor, id)
	if err != nil {
		return store.User{}, fmt.Errorf("set roles: %w", err)
	}
	if err := s.CheckGrant(ctx, actor, roles); err != nil {
		return store.User{}, err
	}
	if !contains(roles, AdminRole) {
		orphan, err := s.wouldOrphanAdmins(ctx, target)
		if err != nil {
			return store.User{}, err
		}
		if orphan {
			return store.User{}, ErrLastAdmin
		}
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserRolesChanged, audit.Success, id, map[string]any{"from": target.Roles, "to": roles})
	if err := s.st.SetUserRoles(ctx, id, roles, s.o.Now(), ev); err != nil {
		return store.User{}, fmt.Errorf("set roles: %w", err)
	}
	s.o.OnUserChanged(id)
	return s.Get(ctx, id)
}
