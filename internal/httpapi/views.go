package httpapi

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// userView is the public shape of a user; never a hash or salt.
type userView struct {
	ID            string   `json:"id"`
	Email         string   `json:"email"`
	Name          string   `json:"name"`
	FirstName     string   `json:"first_name"`
	LastName      string   `json:"last_name"`
	EmailVerified bool     `json:"email_verified"`
	Status        string   `json:"status"`
	Roles         []string `json:"roles"`
	CreatedAt     stamp    `json:"created_at"`
	UpdatedAt     stamp    `json:"updated_at"`
}

// adminUserView adds account state only admins see.
type adminUserView struct {
	userView
	LastLoginAt         *stamp         `json:"last_login_at"`
	LockedUntil         *stamp         `json:"locked_until"`
	FailedLoginAttempts int            `json:"failed_login_attempts"`
	Attributes          map[string]any `json:"attributes"`
}

func viewUser(u store.User) userView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, FirstName: u.FirstName, LastName: u.LastName,
		EmailVerified: u.EmailVerified, Status: u.Status, Roles: roles, CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt)}
}

func viewAdminUser(u store.User, now time.Time) adminUserView {
	v := adminUserView{userView: viewUser(u), LastLoginAt: stampOf(u.LastLoginAt), FailedLoginAttempts: u.FailedLoginAttempts, Attributes: u.Attributes}
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		v.LockedUntil = stampOf(u.LockedUntil)
	}
	if v.Attributes == nil {
		v.Attributes = map[string]any{}
	}
	return v
}

type sessionView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	IPAddress  string `json:"ip_address"`
	UserAgent  string `json:"user_agent"`
	CreatedAt  stamp  `json:"created_at"`
	LastSeenAt stamp  `json:"last_seen_at"`
	ExpiresAt  stamp  `json:"expires_at"`
	Current    bool   `json:"current"`
}

func viewSession(x store.Session, currentID string) sessionView {
	return sessionView{ID: x.ID, Status: x.Status, IPAddress: x.IPAddress, UserAgent: x.UserAgent,
		CreatedAt: stamp(x.CreatedAt), LastSeenAt: stamp(x.LastSeenAt), ExpiresAt: stamp(x.ExpiresAt), Current: x.ID == currentID}
}

type auditView struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	ActorID   string         `json:"actor_id"`
	UserID    string         `json:"user_id"`
	Result    string         `json:"result"`
	IPAddress string         `json:"ip_address"`
	UserAgent string         `json:"user_agent"`
	Details   map[string]any `json:"details"`
	CreatedAt stamp          `json:"created_at"`
}

func viewAudit(e store.AuditEvent) auditView {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return auditView{ID: e.ID, Type: e.Type, ActorID: e.ActorID, UserID: e.UserID, Result: e.Result,
		IPAddress: e.IPAddress, UserAgent: e.UserAgent, Details: d, CreatedAt: stamp(e.CreatedAt)}
}

// stamp is a time in a JSON answer, written as time.Time writes it (RFC
// 3339 with nanoseconds, trailing zeros cut). It marshals as text, not
// JSON: encoding/json re-scans every MarshalJSON answer to compact it, and
// that re-scan of five times was a quarter of a whoami's handler time.
type stamp time.Time

// MarshalText implements encoding.TextMarshaler.
func (t stamp) MarshalText() ([]byte, error) {
	return time.Time(t).AppendFormat(make([]byte, 0, len(time.RFC3339Nano)), time.RFC3339Nano), nil
}

// stampOf is the stamp of an optional time (nil stays null).
func stampOf(t *time.Time) *stamp {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}
