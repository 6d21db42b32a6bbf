package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// limit counts one event against key and fails with 429 when over.
func (s *Server) limit(r *http.Request, key string, l ratelimit.Limit) error {
	if s.d.Config.RateLimit.Disabled || s.d.Limiter == nil {
		return nil
	}
	d, err := s.d.Limiter.Hit(r.Context(), key, l)
	if err != nil {
		// A broken limiter must not lock everyone out; log and allow.
		s.log.WarnContext(r.Context(), "rate limiter", "err", err)
		return nil
	}
	if !d.Allowed {
		return &rateLimitedError{after: d.RetryAfter}
	}
	return nil
}

// limits are the configured rate limits in the limiter's terms.
type limits struct {
	LoginPerIP, LoginFailuresPerKey, SignupPerIP, RefreshPerIP ratelimit.Limit
}

func (s *Server) rl() limits {
	c := s.d.Config.RateLimit
	conv := func(l config.Limit) ratelimit.Limit { return ratelimit.Limit{N: l.N, Window: l.Window} }
	return limits{conv(c.LoginPerIP), conv(c.LoginFailuresPerKey), conv(c.SignupPerIP), conv(c.RefreshPerIP)}
}

type signupRequest struct {
	Email           string  `json:"email"`
	Password        string  `json:"password"`
	Name            *string `json:"name"`
	FirstName       *string `json:"first_name"`
	LastName        *string `json:"last_name"`
	FName           *string `json:"fName"`
	LName           *string `json:"lName"`
	InvitationToken *string `json:"invitation_token"`
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(r, "signup:ip:"+audit.MetaFrom(r.Context()).IP, s.rl().SignupPerIP); err != nil {
		return err
	}
	var req signupRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.InvitationToken != nil && *req.InvitationToken != "" {
		return validation.Errors{{Field: "invitation_token", Message: "is invalid or expired"}}
	}
	// U3: first_name/last_name and fName/lName are the same fields.
	first, last := req.FirstName, req.LastName
	if first == nil {
		first = req.FName
	}
	if last == nil {
		last = req.LName
	}
	u, err := s.d.Identity.Signup(r.Context(), identity.SignupInput{
		Email: req.Email, Password: req.Password,
		Profile: identity.Profile{Name: req.Name, FirstName: first, LastName: last},
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": viewUser(u)})
	return nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ip := audit.MetaFrom(ctx).IP
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var verr validation.Errors
	if strings.TrimSpace(req.Email) == "" {
		verr.Add("email", "is required")
	}
	if req.Password == "" {
		verr.Add("password", "is required")
	}
	if err := verr.Err(); err != nil {
		return err // L11
	}
	if err := s.limit(r, "login:ip:"+ip, s.rl().LoginPerIP); err != nil {
		s.metrics.login("rate_limited")
		return err
	}
	failKey := "login:fail:" + strings.ToLower(strings.TrimSpace(req.Email)) + "|" + ip
	if !s.d.Config.RateLimit.Disabled && s.d.Limiter != nil {
		if d, err := s.d.Limiter.Check(ctx, failKey, s.rl().LoginFailuresPerKey); err == nil && !d.Allowed {
			s.metrics.login("rate_limited")
			return &rateLimitedError{after: d.RetryAfter}
		}
	}
	u, err := s.d.Identity.Login(ctx, req.Email, req.Password)
	if err != nil {
		if errors.Is(err, identity.ErrInvalidCredentials) {
			s.metrics.login("failure")
			if !s.d.Config.RateLimit.Disabled && s.d.Limiter != nil {
				_, _ = s.d.Limiter.Hit(ctx, failKey, s.rl().LoginFailuresPerKey)
			}
		} else {
			s.metrics.login("error")
		}
		return err
	}
	if s.d.Limiter != nil {
		_ = s.d.Limiter.Reset(ctx, failKey)
	}
	s.metrics.login("success")
	return s.startSession(w, r, u, []string{"pwd"})
}

// startSession creates a session and answers as login does: cookie for
// browsers, tokens for API clients.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, amr []string) error {
	iss, err := s.d.Sessions.Create(r.Context(), u, amr)
	if err != nil {
		return err
	}
	at, exp, err := s.issueAccess(iss.Principal)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, iss.Token.Reveal(), iss.Session.ExpiresAt)
	body := map[string]any{
		"user":          viewUser(u),
		"session":       map[string]any{"id": iss.Session.ID, "expires_at": iss.Session.ExpiresAt},
		"session_token": iss.Token.Reveal(),
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    int(time.Until(exp).Round(time.Second).Seconds()),
		"refresh_token": iss.Refresh.Reveal(),
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) issueAccess(p session.Principal) (string, time.Time, error) {
	return s.d.Issuer.Issue(token.Claims{Subject: p.User.ID, SessionID: p.Session.ID, Roles: p.User.Roles, AMR: p.Session.AMR, AuthTime: p.Session.CreatedAt})
}

func (s *Server) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: value, Path: "/", MaxAge: maxAge, Expires: expires,
		HttpOnly: true, Secure: s.secure, SameSite: s.sameSite, Domain: s.d.Config.Session.CookieDomain})
}

// clearSessionCookie expires the cookie with the same attributes (C7).
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.secure, SameSite: s.sameSite, Domain: s.d.Config.Session.CookieDomain})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(r, "refresh:ip:"+audit.MetaFrom(r.Context()).IP, s.rl().RefreshPerIP); err != nil {
		return err
	}
	var req refreshRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return validation.Errors{{Field: "refresh_token", Message: "is required"}}
	}
	p, next, err := s.d.Sessions.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		return err
	}
	at, exp, err := s.issueAccess(p)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at, "token_type": "Bearer", "refresh_token": next.Reveal(),
		"expires_in": int(time.Until(exp).Round(time.Second).Seconds()),
	})
	return nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	if err := s.d.Sessions.Logout(r.Context(), c.Principal); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	perms, err := s.d.RBAC.Permissions(r.Context(), c.User.Roles)
	if err != nil {
		return err
	}
	u := viewUser(c.User)
	writeJSON(w, http.StatusOK, map[string]any{
		"user":        u,
		"session":     viewSession(c.Session, c.Session.ID),
		"roles":       u.Roles,
		"permissions": perms,
		"auth_method": c.via,
	})
	return nil
}
