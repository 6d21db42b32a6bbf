package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// How a caller authenticated.
const (
	viaCookie       = "cookie"
	viaSessionToken = "session_token"
	viaAccessToken  = "access_token"
)

// caller is the authenticated principal of a request.
type caller struct {
	session.Principal
	via string
}

type callerKey struct{}

func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// maxBearerLength bounds Authorization values before any parsing.
const maxBearerLength = 8192

// bearer parses an Authorization header strictly (T1): exactly the
// "Bearer" scheme (case-insensitive), one space, a token of visible ASCII.
// jwt reports whether the token has a JWT's shape (token.LooksLikeJWT),
// whose alphabet is visible ASCII already, so the long access tokens are
// scanned once.
func bearer(h string) (tok string, jwt, ok bool) {
	if len(h) > maxBearerLength {
		return "", false, false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false, false
	}
	if token.LooksLikeJWT(tok) {
		return tok, true, true
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= 0x20 || c >= 0x7f {
			return "", false, false
		}
	}
	return tok, false, true
}

// authenticate resolves the request's credential (J19/J20): the session
// cookie first, then a bearer access token or session token. It returns
// (caller, false, nil) when no credential is present.
func (s *Server) authenticate(r *http.Request) (caller, bool, error) {
	ctx := r.Context()
	if c, err := r.Cookie(s.cookieName); err == nil && c.Value != "" {
		p, err := s.d.Sessions.Authenticate(ctx, c.Value)
		if err == nil {
			return caller{p, viaCookie}, true, nil
		}
		if !errors.Is(err, session.ErrInvalid) {
			return caller{}, false, err
		}
		// A dead cookie falls through to a bearer credential if any.
		if r.Header.Get("Authorization") == "" {
			return caller{}, false, errUnauthenticated
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return caller{}, false, nil
	}
	tok, jwt, ok := bearer(h)
	if !ok {
		return caller{}, false, invalidTokenError{}
	}
	if jwt {
		claims, err := s.d.Verifier.Verify(tok)
		if err != nil {
			return caller{}, false, invalidTokenError{}
		}
		// J16: the token's session must still be active, so logout,
		// revocation and suspension reach access tokens at once.
		p, err := s.d.Sessions.ByID(ctx, claims.SessionID)
		if err != nil {
			if errors.Is(err, session.ErrInvalid) {
				return caller{}, false, invalidTokenError{}
			}
			return caller{}, false, err
		}
		if p.User.ID != claims.Subject {
			return caller{}, false, invalidTokenError{}
		}
		return caller{p, viaAccessToken}, true, nil
	}
	p, err := s.d.Sessions.Authenticate(ctx, tok)
	if err != nil {
		if errors.Is(err, session.ErrInvalid) {
			return caller{}, false, invalidTokenError{}
		}
		return caller{}, false, err
	}
	return caller{p, viaSessionToken}, true, nil
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// public adapts a handler that needs no credential.
func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(r.Context(), s.log, w, err)
		}
	})
}

// authed requires a valid credential (S12, Z1: 401 when identity fails).
func (s *Server) authed(h handlerFunc) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		c, ok, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !ok {
			return errUnauthenticated
		}
		ctx := context.WithValue(r.Context(), callerKey{}, c)
		meta := audit.MetaFrom(ctx)
		meta.ActorID = c.User.ID
		ctx = audit.WithMeta(ctx, meta)
		w.Header()["Cache-Control"] = s.fixed.noStore
		r = r.WithContext(ctx)
		err = h(w, r)
		if reason, ok := refusal(err); ok {
			s.auditRefusal(r, c, reason, err)
		}
		return err
	})
}

// permissionError is a 403 for lacking one permission.
type permissionError struct{ permission string }

func (e permissionError) Error() string { return "missing permission " + e.permission }
func (e permissionError) Unwrap() error { return errForbidden }

// refusal names why an authenticated request was refused with 403.
func refusal(err error) (string, bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, identity.ErrEscalation), errors.Is(err, authz.ErrEscalation):
		return "escalation", true
	case errors.Is(err, identity.ErrTargetOutranks):
		return "target_outranks", true
	case errors.Is(err, identity.ErrSelf):
		return "self", true
	case errors.Is(err, errForbidden):
		return "permission", true
	}
	return "", false
}

// auditRefusal records a 403 as access.denied (R7): who, which route,
// why, and the permission at stake. At most MailPerIP-many a minute per
// actor are written, so one account cannot flood the log.
func (s *Server) auditRefusal(r *http.Request, c caller, reason string, err error) {
	if s.d.Limiter != nil && s.limit(r, "deny-audit:"+c.User.ID, s.rl().MailPerIP) != nil {
		return
	}
	details := map[string]any{"route": r.Pattern, "reason": reason}
	var pe permissionError
	if errors.As(err, &pe) {
		details["permission"] = pe.permission
	} else if reason == "escalation" {
		// "...cannot grant permissions you do not hold: <permission>"
		if i := strings.LastIndex(err.Error(), ": "); i >= 0 {
			details["permission"] = err.Error()[i+2:]
		}
	}
	// The target user is the route's {id} only where the refusal came
	// from looking at that user; otherwise the id is unchecked input and
	// goes into the details.
	target := c.User.ID
	if id := r.PathValue("id"); id != "" && strings.Contains(r.Pattern, "/users/{id}") {
		if reason == "target_outranks" || reason == "self" {
			target = id
		} else {
			details["target_id"] = truncate(id, 64)
		}
	}
	ev := audit.MetaFrom(r.Context()).Event(audit.AccessDenied, audit.Denied, target, details)
	if err := s.d.Audit.AppendAudit(r.Context(), ev); err != nil {
		s.log.WarnContext(r.Context(), "audit denial", "err", err)
	}
}

// admin requires a credential and, beyond it, admin.access plus perm
// (Z1: 403 when permission fails). Denials are audited (R7).
func (s *Server) admin(perm string, h handlerFunc) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request) error {
		c, _ := callerFrom(r.Context())
		for _, p := range []string{"admin.access", perm} {
			ok, err := s.d.RBAC.Has(r.Context(), c.User.Roles, p)
			if err != nil {
				return err
			}
			if !ok && !slices.Contains(c.User.Permissions, p) { // roles or direct grants (Z11)
				return permissionError{p}
			}
		}
		return h(w, r)
	})
}
