package gatehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

type claimsKey struct{}

// ClaimsFrom returns the claims [Verifier.Authenticate] put into a
// request's context.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// WithClaims returns a context carrying c, as Authenticate does; it is
// meant for tests of handlers that call ClaimsFrom.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// bearerToken parses an Authorization header strictly: the Bearer scheme
// (any case), one space, a token of visible ASCII. ok is false when the
// header is absent; malformed is true when it is present but unusable.
func bearerToken(h string) (tok string, ok, malformed bool) {
	if h == "" {
		return "", false, false
	}
	if len(h) > maxTokenBytes+len("Bearer ") {
		return "", false, true
	}
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false, true
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= 0x20 || c >= 0x7f {
			return "", false, true
		}
	}
	return tok, true, false
}

// problem is the RFC 9457 body the middleware answers with, in
// Gatehouse's own shape.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, code, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "https://gatehouse.dev/problems/" + code, Title: title, Status: status, Code: code, Detail: detail})
}

// unauthenticated answers 401. invalidToken selects the RFC 6750 error
// code: present for a bad token, absent when none was sent (section 3.1).
func unauthenticated(w http.ResponseWriter, invalidToken bool) {
	if invalidToken {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	}
	writeProblem(w, http.StatusUnauthorized, "unauthenticated", "Unauthenticated", "The credential is missing, invalid or expired.")
}

// Authenticate lets through only requests with a valid access token in
// Authorization: Bearer (cookies and query parameters are ignored), and
// puts its claims into the request context for [ClaimsFrom]. Anything else
// gets 401 application/problem+json with code "unauthenticated" and a
// WWW-Authenticate header: `Bearer error="invalid_token"` for a bad,
// expired or revoked token, plain `Bearer` when none was sent (RFC 6750
// section 3.1). The token is verified offline (see [Verifier.Verify]).
func (v *Verifier) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok, malformed := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			unauthenticated(w, malformed)
			return
		}
		c, err := v.Verify(r.Context(), tok)
		if err != nil {
			unauthenticated(w, true)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// actionRE is the server's shape of an action ("posts.update").
var actionRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}(\.[a-z0-9_*-]{1,63}){0,3}$`)

// typeRE is the server's shape of a resource type ("post").
var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// RequirePermission returns middleware that lets a request through only if
// Gatehouse's check API (POST /v1/authz/check) allows the caller to do
// action on the request's resource. It must run after
// [Verifier.Authenticate]: the check is made with the request's own bearer
// token, so the subject is the caller.
//
// resource picks the resource from the request (e.g. the post named by a
// path value); when resource is nil, or returns an empty Type, the type is
// the action's first segment ("posts" for "posts.update").
//
// Guarantees:
//   - The server is asked on every request; decisions are never cached, so
//     role, grant and policy changes apply to the very next request.
//   - Denied: 403 problem+json, code "forbidden".
//   - The server says the token's session has ended (before the poller
//     noticed): 401 as Authenticate answers it.
//   - No decision (network error, timeout, 5xx, 429): 503 problem+json,
//     code "unavailable", and the handler does not run (fail closed).
//   - Misuse (no Authenticate before it, or a resource the server rejects
//     as invalid): 500, logged.
//
// It panics if action is not a well-formed action name, like
// http.ServeMux does with a bad pattern: that is a bug found at start-up.
func (v *Verifier) RequirePermission(action string, resource func(r *http.Request) Resource) func(http.Handler) http.Handler {
	if !actionRE.MatchString(action) {
		panic(fmt.Sprintf("gatehouse: RequirePermission: %q is not an action like posts.update", action))
	}
	defaultType, _, _ := strings.Cut(action, ".")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			c, ok := ClaimsFrom(ctx)
			if !ok || c.Raw == "" {
				v.s.log.ErrorContext(ctx, "gatehouse: RequirePermission used without Authenticate before it", "action", action, "path", r.URL.Path)
				writeProblem(w, http.StatusInternalServerError, "internal", "Internal server error", "")
				return
			}
			var res Resource
			if resource != nil {
				res = resource(r)
			}
			if res.Type == "" {
				res.Type = defaultType
			}
			if !typeRE.MatchString(res.Type) {
				v.s.log.ErrorContext(ctx, "gatehouse: RequirePermission: invalid resource type", "action", action, "type", res.Type)
				writeProblem(w, http.StatusInternalServerError, "internal", "Internal server error", "")
				return
			}
			allowed, _, err := v.client.Check(ctx, c.Raw, action, res)
			var ae *APIError
			errors.As(err, &ae)
			switch {
			case err == nil && allowed:
				next.ServeHTTP(w, r)
			case err == nil, ae != nil && ae.Status == http.StatusForbidden:
				writeProblem(w, http.StatusForbidden, "forbidden", "Forbidden", "You do not have permission to do this.")
			case ae != nil && ae.Status == http.StatusUnauthorized:
				unauthenticated(w, true)
			case ae != nil && ae.Status == http.StatusBadRequest:
				v.s.log.ErrorContext(ctx, "gatehouse: RequirePermission: the check API refused the request", "action", action, "err", err)
				writeProblem(w, http.StatusInternalServerError, "internal", "Internal server error", "")
			default:
				if ctx.Err() == nil {
					v.s.log.WarnContext(ctx, "gatehouse: permission check failed; refusing the request", "action", action, "err", err)
				}
				w.Header().Set("Retry-After", "1")
				writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "The permission check could not be made; try again shortly.")
			}
		})
	}
}
