// Package audit owns the security event vocabulary (R6, R7, L15): who did
// what to whom, with what result, from where. Events are built here and
// written by the store in the same transaction as the change they record;
// events that record no change (a failed login) are appended on their own.
package audit

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Event types.
const (
	UserSignup        = "user.signup"
	UserCreated       = "user.created"
	UserImported      = "user.imported"
	UserUpdated       = "user.updated"
	UserDeleted       = "user.deleted"
	UserSuspended     = "user.suspended"
	UserUnsuspended   = "user.unsuspended"
	UserUnlocked      = "user.unlocked"
	UserLocked        = "user.locked"
	UserRolesChanged  = "user.roles_changed"
	PasswordChanged   = "password.changed"
	LoginSucceeded    = "login.succeeded"
	LoginFailed       = "login.failed"
	Logout            = "logout"
	SessionRevoked    = "session.revoked"
	SessionsRevoked   = "sessions.revoked"
	TokenRefreshed    = "token.refreshed"
	TokenRefreshReuse = "token.refresh_reuse"
	AccessDenied      = "access.denied"
	SessionIPChanged  = "session.ip_changed"
	SigningKeyRotated = "signing_key.rotated"
)

// Results.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// Meta is who is acting and from where.
type Meta struct {
	ActorID   string
	IP        string
	UserAgent string
	RequestID string
}

// Event builds an audit event from the request metadata.
func (m Meta) Event(typ, result, userID string, details map[string]any) *store.AuditEvent {
	if m.RequestID != "" {
		if details == nil {
			details = map[string]any{}
		}
		details["request_id"] = m.RequestID
	}
	return &store.AuditEvent{Type: typ, ActorID: m.ActorID, UserID: userID, Result: result,
		IPAddress: m.IP, UserAgent: m.UserAgent, Details: details}
}

type metaKey struct{}

// WithMeta stores request metadata in ctx (set by the HTTP middleware).
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the request metadata in ctx, or the zero Meta.
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}
