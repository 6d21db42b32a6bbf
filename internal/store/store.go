package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped) so domain services can tell
// outcomes apart without knowing the database.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrRefreshReused means a refresh token that was already spent was
	// presented again. The implementation has revoked the whole session
	// (the token family) in the same transaction before returning it.
	ErrRefreshReused = errors.New("refresh token reused")
	// ErrInvalidInput: the database refused a value (a NUL byte, invalid
	// UTF-8): the caller's input, not a server fault.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnavailable wraps failures to reach the database at all.
	ErrUnavailable = errors.New("store unavailable")
)

// User statuses.
const (
	UserActive    = "active"
	UserSuspended = "suspended"
)

// Session statuses (S5).
const (
	SessionActive    = "active"
	SessionLoggedOut = "logged_out"
	SessionRevoked   = "revoked"
	SessionExpired   = "expired"
)

// User is one account. Email is what is shown; Gatehouse stores the
// normalised (trimmed, lowercase) address in both fields, and
// EmailNormalized carries the unique index (U1).
type User struct {
	ID                  string
	Email               string
	EmailNormalized     string
	Username            *string
	Name                string
	FirstName           string
	LastName            string
	PasswordHash        string
	EmailVerified       bool
	EmailVerifiedAt     *time.Time
	Status              string
	FailedLoginAttempts int
	LockedUntil         *time.Time
	LastLoginAt         *time.Time
	LastLoginIP         string
	Attributes          map[string]any
	Roles               []string
	// Permissions are granted to the user directly, beside roles (Z11).
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Session is one login on one device (S4). Only the SHA-256 of the token is
// stored (S2).
type Session struct {
	ID            string
	UserID        string
	TokenHash     string
	Status        string
	IPAddress     string
	UserAgent     string
	AMR           []string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastSeenAt    time.Time
	ExpiresAt     time.Time // absolute expiry
	IdleExpiresAt time.Time // sliding idle expiry
	LoggedOutAt   *time.Time
	RevokedAt     *time.Time
}

// RefreshToken is one member of a session's token family (J10, J13).
type RefreshToken struct {
	ID        string
	SessionID string
	UserID    string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// EndedSession is one entry of the revocation feed.
type EndedSession struct {
	ID      string
	EndedAt time.Time
}

// AuditEvent is one security event (R6).
type AuditEvent struct {
	ID        string
	CreatedAt time.Time
	Type      string
	ActorID   string
	UserID    string
	Result    string
	IPAddress string
	UserAgent string
	Details   map[string]any
}

// SigningKey is one asymmetric JWT signing key. PrivateKey is encrypted
// under the master key; PublicJWK is the JSON public key.
type SigningKey struct {
	KID        string
	Algorithm  string
	PrivateKey []byte
	PublicJWK  string
	CreatedAt  time.Time
	// RetiredAt is when the key stopped signing; it is still published
	// until RetiredAt plus the longest token lifetime.
	RetiredAt *time.Time
}

// One-time token types (O1).
const (
	TokenEmailVerification = "email_verification"
	TokenPasswordReset     = "password_reset"
	TokenMagicLink         = "magic_link"
	TokenInvitation        = "invitation"
)

// OneTimeToken is a single-use, expiring token sent by mail (O4/O5). Only
// the SHA-256 of the token is stored.
type OneTimeToken struct {
	ID        string
	Type      string
	TokenHash string
	UserID    string // empty for invitations
	Email     string // normalised address the token was sent to
	Metadata  map[string]any
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Role and Permission are the RBAC tables (Z2-Z4).
type Role struct {
	Name        string
	Description string
	Builtin     bool
	Permissions []string
	CreatedAt   time.Time
}

type Permission struct {
	Name        string
	Description string
	CreatedAt   time.Time
}

// Relation is one ACL tuple: subject may permission on one resource (Z12).
// SubjectType is "user" (SubjectID a user id) or "role" (a role name).
type Relation struct {
	ID           string
	SubjectType  string
	SubjectID    string
	Permission   string
	ResourceType string
	ResourceID   string
	CreatedAt    time.Time
}

// RelationQuery filters relations; empty fields match everything.
type RelationQuery struct {
	SubjectType, SubjectID   string
	ResourceType, ResourceID string
	Limit                    int
}

// Subject names a relation subject.
type Subject struct{ Type, ID string }

// Policy is an ABAC rule (Z13): when Condition (CEL) holds for a check of
// one of Actions on ResourceType ("" = any), Effect applies.
type Policy struct {
	ID           string
	Name         string
	Description  string
	Effect       string // "allow" or "deny"
	Actions      []string
	ResourceType string
	Condition    string
	CreatedAt    time.Time
}

// UserPatch holds the fields an update may set; nil means unchanged.
type UserPatch struct {
	Name       *string
	FirstName  *string
	LastName   *string
	Email      *string // already normalised by the caller; EmailNormalized derived by caller
	EmailNorm  *string
	Attributes map[string]any // replaces when non-nil
}

// UserQuery selects a page of users ordered by id (time-ordered UUIDv7).
type UserQuery struct {
	Query string // case-insensitive substring of email or name
	After string // cursor: return ids greater than this
	Limit int
}

// AuditQuery selects a page of audit events, newest first.
type AuditQuery struct {
	UserID string
	Type   string
	Before string // cursor: return ids smaller than this
	Limit  int
}

// LoginFailure is the result of recording a failed password check.
type LoginFailure struct {
	Attempts    int
	LockedUntil *time.Time // set when this failure locked the account
}

// Device is what a user's earlier sessions (active or ended, while they
// are kept) say of a new session's device, for new-device notices (R5).
type Device struct {
	// Known: an earlier session came from the same IP address and user
	// agent.
	Known bool
	// SeenBefore: there is an earlier session at all (a first login is
	// not from a "new" device).
	SeenBefore bool
}

// Store is everything Gatehouse persists. Every write method is one
// transaction; an *AuditEvent argument, when non-nil, is written in that
// same transaction.
type Store interface {
	Migrate(ctx context.Context) error
	Ping(ctx context.Context) error
	Close() error

	// Users.
	CreateUser(ctx context.Context, u *User, roles []string, ev *AuditEvent) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByEmail(ctx context.Context, emailNormalized string) (User, error)
	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	UpdateUser(ctx context.Context, id string, p UserPatch, now time.Time, ev *AuditEvent) (User, error)
	DeleteUser(ctx context.Context, id string, ev *AuditEvent) error
	// SetUserStatus changes status; suspending also revokes every active
	// session and refresh token of the user in the same transaction.
	SetUserStatus(ctx context.Context, id, status string, now time.Time, ev *AuditEvent) error
	// RecordLoginFailure increments the failure counter atomically and
	// locks the account once it reaches threshold.
	RecordLoginFailure(ctx context.Context, id string, threshold int, lockFor time.Duration, now time.Time) (LoginFailure, error)
	// RehashPassword replaces the user's password hash with newHash if it
	// is still oldHash (rehash at login, P1) and reports whether it did: a
	// password changed meanwhile stays as it is.
	RehashPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error)
	UnlockUser(ctx context.Context, id string, now time.Time, ev *AuditEvent) error
	// SetPassword replaces the hash and revokes every session and refresh
	// token of the user except keepSessionID (may be empty).
	SetPassword(ctx context.Context, id, hash, keepSessionID string, now time.Time, ev *AuditEvent) error
	SetUserRoles(ctx context.Context, id string, roles []string, now time.Time, ev *AuditEvent) error
	// CountUsersWithRole counts active (not suspended) users holding role.
	CountUsersWithRole(ctx context.Context, role string) (int, error)

	// Sessions and refresh tokens.
	// CreateLoginSession stores the session a login opens, optionally its
	// first refresh token, and the audit event. In the same transaction it
	// records the login on the user (L14: failed attempts and lock reset,
	// last_login_at and last_login_ip set to the session's created_at and
	// ip_address), and it reports what the user's other sessions, from
	// before this one, say of its device (R5). An unknown user is
	// ErrNotFound and nothing is written.
	CreateLoginSession(ctx context.Context, s *Session, rt *RefreshToken, ev *AuditEvent) (Device, error)
	// GetSessionByTokenHash and GetSession return the session with its user
	// (roles included) in one query (X4).
	GetSessionByTokenHash(ctx context.Context, tokenHash string) (Session, User, error)
	GetSession(ctx context.Context, id string) (Session, User, error)
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error
	ListActiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// EndSession moves an active session to status (logged_out or revoked)
	// and kills its refresh tokens. ErrNotFound if it was not active.
	EndSession(ctx context.Context, id, status string, now time.Time, ev *AuditEvent) error
	// RevokeUserSessions revokes every active session of the user except
	// exceptID and returns the revoked ids.
	RevokeUserSessions(ctx context.Context, userID, exceptID string, now time.Time, ev *AuditEvent) ([]string, error)
	// RotateRefreshToken spends the token with oldHash and stores next in
	// the same session. A spent token gives ErrRefreshReused after the
	// session was revoked; an unknown, expired or revoked one ErrNotFound.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) (Session, User, error)
	// EndedSessions lists sessions that stopped being active (logged out,
	// revoked, expired) after since, oldest first, for the revocation feed.
	EndedSessions(ctx context.Context, since time.Time, limit int) ([]EndedSession, error)
	// ExpireSessions marks up to limit sessions past their expiry as
	// expired and deletes refresh tokens and ended sessions older than
	// purgeBefore; it returns how many rows it touched (S21, X8).
	ExpireSessions(ctx context.Context, now, purgeBefore time.Time, limit int) (int, error)

	// Roles and permissions.
	ListRoles(ctx context.Context) ([]Role, error)
	ListPermissions(ctx context.Context) ([]Permission, error)

	// Authorization data (Z2-Z13). Role and permission names are unique;
	// duplicates are ErrConflict, unknown names ErrNotFound.
	GetRole(ctx context.Context, name string) (Role, error)
	CreateRole(ctx context.Context, r *Role, ev *AuditEvent) error
	// UpdateRole changes the description (when non-nil) and replaces the
	// permissions (when non-nil).
	UpdateRole(ctx context.Context, name string, description *string, permissions []string, ev *AuditEvent) (Role, error)
	DeleteRole(ctx context.Context, name string, ev *AuditEvent) error
	// CreatePermission adds a permission and grants it to grantTo roles.
	CreatePermission(ctx context.Context, p *Permission, grantTo []string, ev *AuditEvent) error
	SetUserPermissions(ctx context.Context, userID string, perms []string, now time.Time, ev *AuditEvent) error
	CreateRelation(ctx context.Context, r *Relation, ev *AuditEvent) error
	// DeleteRelation removes the tuple matching r's subject, permission
	// and resource.
	DeleteRelation(ctx context.Context, r Relation, ev *AuditEvent) error
	ListRelations(ctx context.Context, q RelationQuery) ([]Relation, error)
	// FindRelation returns the first tuple granting permission on the
	// resource to any of subjects (an indexed lookup).
	FindRelation(ctx context.Context, subjects []Subject, permission, resourceType, resourceID string) (Relation, bool, error)
	// RelationKinds lists the distinct (resource type, permission) pairs
	// that have at least one tuple, so checks can skip lookups that cannot
	// match.
	RelationKinds(ctx context.Context) ([][2]string, error)
	ListPolicies(ctx context.Context) ([]Policy, error)
	CreatePolicy(ctx context.Context, p *Policy, ev *AuditEvent) error
	DeletePolicy(ctx context.Context, id string, ev *AuditEvent) error

	// Audit.
	AppendAudit(ctx context.Context, ev *AuditEvent) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// One-time tokens. Every consuming method spends the token atomically:
	// of two concurrent redemptions exactly one wins, the other gets
	// ErrNotFound, as do unknown, expired and used tokens (O9).
	CreateOneTimeToken(ctx context.Context, t *OneTimeToken, ev *AuditEvent) error
	ConsumeOneTimeToken(ctx context.Context, typ, tokenHash string, now time.Time, ev *AuditEvent) (OneTimeToken, error)
	// VerifyEmail spends an email_verification token and marks the user's
	// email verified, provided the address has not changed since (O15).
	VerifyEmail(ctx context.Context, tokenHash string, now time.Time, ev *AuditEvent) (User, error)
	// ResetPassword spends a password_reset token, sets the new hash,
	// revokes every session and refresh token of the user and spends every
	// other reset token (O14); it returns the user and the revoked sessions.
	ResetPassword(ctx context.Context, tokenHash, newHash string, now time.Time, ev *AuditEvent) (User, []string, error)
	// CreateUserFromInvitation spends an invitation token sent to
	// u.EmailNormalized and creates the user with a verified email and the
	// roles stored in the invitation's metadata (O13).
	CreateUserFromInvitation(ctx context.Context, tokenHash string, u *User, now time.Time, ev *AuditEvent) error
	// MarkEmailVerified records that the user proved the address.
	MarkEmailVerified(ctx context.Context, userID string, now time.Time, ev *AuditEvent) error

	// Signing keys.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	CreateSigningKey(ctx context.Context, k *SigningKey) error
}
