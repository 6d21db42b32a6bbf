package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/emailflow"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// Problem is an RFC 9457 problem document with Gatehouse's stable code.
type Problem struct {
	Type   string                  `json:"type"`
	Title  string                  `json:"title"`
	Status int                     `json:"status"`
	Code   string                  `json:"code"`
	Detail string                  `json:"detail,omitempty"`
	Errors []validation.FieldError `json:"errors,omitempty"`
}

// HTTP-layer errors.
var (
	errUnauthenticated = errors.New("authentication required")
	errForbidden       = errors.New("forbidden")
	errNotFound        = errors.New("not found")
	errCSRF            = errors.New("cross-origin request refused")
)

// rateLimitedError carries Retry-After.
type rateLimitedError struct{ after time.Duration }

func (e *rateLimitedError) Error() string { return "rate limited" }

// methodNotAllowed carries the Allow header.
type methodNotAllowed struct{ allow string }

func (e *methodNotAllowed) Error() string { return "method not allowed" }

// invalidTokenError is a bad bearer credential (J9).
type invalidTokenError struct{}

func (invalidTokenError) Error() string { return "invalid bearer token" }

func problem(status int, code, title, detail string) Problem {
	return Problem{Type: "https://gatehouse.dev/problems/" + code, Title: title, Status: status, Code: code, Detail: detail}
}

// toProblem is the one place where errors become answers (DESIGN habit 1).
// It returns the problem and any headers to set.
func toProblem(err error) (Problem, http.Header) {
	h := http.Header{}
	var verr validation.Errors
	var derr *decodeError
	var mbe *http.MaxBytesError
	var rl *rateLimitedError
	var mna *methodNotAllowed
	switch {
	case errors.As(err, &verr):
		p := problem(400, "validation_failed", "Validation failed", "One or more fields are invalid.")
		p.Errors = verr
		return p, h
	case errors.As(err, &mbe):
		return problem(413, "payload_too_large", "Payload too large", "The request body exceeds "+strconv.FormatInt(mbe.Limit, 10)+" bytes."), h
	case errors.As(err, &derr):
		p := problem(400, "validation_failed", "Validation failed", derr.msg)
		if derr.field != "" {
			p.Errors = []validation.FieldError{{Field: derr.field, Message: derr.fieldMsg}}
		}
		return p, h
	case errors.Is(err, store.ErrInvalidInput):
		return problem(400, "validation_failed", "Validation failed", "A value contains characters that cannot be stored."), h
	case errors.Is(err, identity.ErrInvalidCredentials):
		return problem(401, "invalid_credentials", "Invalid credentials", "The email or password is incorrect."), h
	case errors.As(err, new(invalidTokenError)):
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return problem(401, "unauthenticated", "Unauthenticated", "The credential is missing, invalid or expired."), h
	case errors.Is(err, errUnauthenticated), errors.Is(err, session.ErrInvalid), errors.Is(err, session.ErrReused):
		h.Set("WWW-Authenticate", `Bearer`)
		return problem(401, "unauthenticated", "Unauthenticated", "The credential is missing, invalid or expired."), h
	case errors.Is(err, errCSRF):
		return problem(403, "forbidden", "Forbidden", "Cross-origin request refused."), h
	case errors.Is(err, errForbidden), errors.Is(err, identity.ErrEscalation), errors.Is(err, identity.ErrSelf), errors.Is(err, identity.ErrTargetOutranks), errors.Is(err, authz.ErrEscalation):
		detail := "You do not have permission to do this."
		if errors.Is(err, identity.ErrEscalation) || errors.Is(err, authz.ErrEscalation) {
			detail = "You cannot grant permissions you do not hold."
		} else if errors.Is(err, identity.ErrTargetOutranks) {
			detail = "The user holds permissions you do not."
		} else if errors.Is(err, identity.ErrSelf) {
			detail = "You cannot do this to your own account."
		}
		return problem(403, "forbidden", "Forbidden", detail), h
	case errors.Is(err, emailflow.ErrInvalidToken):
		p := problem(400, "validation_failed", "Validation failed", "The link is invalid, expired or already used.")
		p.Errors = []validation.FieldError{{Field: "token", Message: "is invalid, expired or already used"}}
		return p, h
	case errors.Is(err, identity.ErrInvalidInvitation):
		p := problem(400, "validation_failed", "Validation failed", "The invitation is invalid, expired, used, or for another address.")
		p.Errors = []validation.FieldError{{Field: "invitation_token", Message: "is invalid or expired"}}
		return p, h
	case errors.Is(err, identity.ErrEmailNotVerified):
		return problem(403, "forbidden", "Email not verified", "Verify your email address before logging in."), h
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound):
		return problem(404, "not_found", "Not found", "The resource does not exist."), h
	case errors.As(err, &mna):
		h.Set("Allow", mna.allow)
		return problem(405, "method_not_allowed", "Method not allowed", "Allowed: "+mna.allow+"."), h
	case errors.Is(err, authz.ErrBuiltin):
		return problem(409, "conflict", "Conflict", "Builtin roles cannot be deleted, and admin keeps every permission."), h
	case errors.Is(err, identity.ErrLastAdmin):
		return problem(409, "conflict", "Conflict", "The last active admin cannot lose admin access."), h
	case errors.Is(err, identity.ErrEmailTaken):
		return problem(409, "conflict", "Conflict", "This email address is already registered."), h
	case errors.Is(err, store.ErrConflict):
		return problem(409, "conflict", "Conflict", "The request conflicts with the current state."), h
	case errors.As(err, &rl):
		secs := int(rl.after.Seconds())
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.Itoa(secs))
		return problem(429, "rate_limited", "Too many requests", "Try again later."), h
	case errors.Is(err, password.ErrBusy):
		h.Set("Retry-After", strconv.Itoa(int(password.RetryAfter(err)/time.Second)))
		return problem(429, "rate_limited", "Too many requests", "The server is busy; try again shortly."), h
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, password.ErrWorker):
		h.Set("Retry-After", "5")
		return problem(503, "unavailable", "Service unavailable", "The service is temporarily unavailable."), h
	}
	return problem(500, "internal", "Internal server error", ""), h
}

// writeError renders err; 5xx causes are logged with the request id and
// never sent to the client.
func writeError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, err error) {
	p, h := toProblem(err)
	if p.Status >= 500 && !errors.Is(err, context.Canceled) {
		log.ErrorContext(ctx, "request failed", "err", err)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
