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
	"github.com/gatehouse-auth/gatehouse/internal/secret"
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

// checkFailures refuses with 429 when key has used up its failures
// (LoginFailuresPerKey) without counting this attempt; countFailure
// counts one. Only failures count, so a user who gets it right is never
// limited by this bucket.
func (s *Server) checkFailures(r *http.Request, key string) error {
	if s.d.Config.RateLimit.Disabled || s.d.Limiter == nil {
		return nil
	}
	if d, err := s.d.Limiter.Check(r.Context(), key, s.rl().LoginFailuresPerKey); err == nil && !d.Allowed {
		return &rateLimitedError{after: d.RetryAfter}
	}
	return nil
}

func (s *Server) countFailure(r *http.Request, key string) {
	if s.d.Config.RateLimit.Disabled || s.d.Limiter == nil {
		return
	}
	_, _ = s.d.Limiter.Hit(r.Context(), key, s.rl().LoginFailuresPerKey)
}

// limits are the configured rate limits in the limiter's terms.
type limits struct {
	LoginPerIP, LoginFailuresPerKey, SignupPerIP, RefreshPerIP, MailPerIP, MailPerAddress, RevocationsPerIP ratelimit.Limit
}

func (s *Server) rl() limits {
	c := s.d.Config.RateLimit
	conv := func(l config.Limit) ratelimit.Limit { return ratelimit.Limit{N: l.N, Window: l.Window} }
	return limits{conv(c.LoginPerIP), conv(c.LoginFailuresPerKey), conv(c.SignupPerIP), conv(c.RefreshPerIP), conv(c.MailPerIP), conv(c.MailPerAddress), conv(c.RevocationsPerIP)}
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

// limitSignup counts one signup attempt against the caller's IP; the JSON
// API and the signup page share the bucket.
func (s *Server) limitSignup(r *http.Request) error {
	return s.limit(r, "signup:ip:"+audit.MetaFrom(r.Context()).IP, s.rl().SignupPerIP)
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitSignup(r); err != nil {
		return err
	}
	var req signupRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// U3: first_name/last_name and fName/lName are the same fields.
	first, last := req.FirstName, req.LastName
	if first == nil {
		first = req.FName
	}
	if last == nil {
		last = req.LName
	}
	in := identity.SignupInput{
		Email: req.Email, Password: req.Password,
		Profile: identity.Profile{Name: req.Name, FirstName: first, LastName: last},
	}
	if req.InvitationToken != nil {
		in.InvitationToken = *req.InvitationToken
	}
	u, pending, err := s.register(r, in)
	if err != nil {
		return err
	}
	if pending {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "verification_required"})
		return nil
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": viewUser(u)})
	return nil
}

// register runs a signup for the JSON API and the signup page alike.
// When verification is required (and no invitation vouches for the
// address) it answers pending for new and existing addresses alike (U11):
// a new account gets a verification mail, the owner of an existing one a
// notice, and the caller learns nothing. Otherwise it returns the new
// user, mailing a verification link unless the address is already
// verified (invitations).
func (s *Server) register(r *http.Request, in identity.SignupInput) (u store.User, pending bool, err error) {
	u, err = s.d.Identity.Signup(r.Context(), in)
	invited := in.InvitationToken != ""
	if s.d.Config.RequireEmailVerification && !invited {
		switch {
		case errors.Is(err, identity.ErrEmailTaken):
			// The owner's notice counts against the per-address mail limit,
			// so signups cannot mail-bomb an address.
			if s.limit(r, "signup-notice:addr:"+secret.Digest(strings.ToLower(strings.TrimSpace(in.Email)))[:32], s.rl().MailPerAddress) == nil {
				s.d.Email.NotifySignupExisting(r.Context(), in.Email)
			}
		case err != nil:
			return store.User{}, false, err
		default:
			s.d.Email.SendVerificationLater(r.Context(), u)
		}
		return store.User{}, true, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	if !u.EmailVerified {
		if err := s.d.Email.SendVerification(r.Context(), u); err != nil {
			s.log.ErrorContext(r.Context(), "send verification", "err", err)
		}
	}
	return u, false, nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
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
	u, err := s.passwordLogin(r, req.Email, req.Password)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u, []string{"pwd"})
}

// passwordLogin is the password check shared by the JSON login and the
// login page: the per-IP limit, the per-account-and-IP failure limit
// (counted only on wrong credentials, reset on success), the identity
// check with its equal work on every path (L6-L8) and the login metrics.
// Every credential failure is identity.ErrInvalidCredentials (L3/L4).
func (s *Server) passwordLogin(r *http.Request, email, password string) (store.User, error) {
	ctx := r.Context()
	ip := audit.MetaFrom(ctx).IP
	if err := s.limit(r, "login:ip:"+ip, s.rl().LoginPerIP); err != nil {
		s.metrics.login("rate_limited")
		return store.User{}, err
	}
	// The key is a digest: the email is attacker-sized input and must not
	// become a megabyte of limiter state.
	failKey := "login:fail:" + secret.Digest(strings.ToLower(strings.TrimSpace(email)))[:32] + "|" + ip
	if err := s.checkFailures(r, failKey); err != nil {
		s.metrics.login("rate_limited")
		return store.User{}, err
	}
	u, err := s.d.Identity.Login(ctx, email, password)
	if err != nil {
		if errors.Is(err, identity.ErrInvalidCredentials) {
			s.metrics.login("failure")
			s.countFailure(r, failKey)
		} else {
			s.metrics.login("error")
		}
		return store.User{}, err
	}
	if s.d.Limiter != nil {
		_ = s.d.Limiter.Reset(ctx, failKey)
	}
	s.metrics.login("success")
	return u, nil
}

// afterLogin sends the new-device notice when it applies (R5).
func (s *Server) afterLogin(r *http.Request, iss session.Issued) {
	if s.d.Email != nil {
		s.d.Email.NotifyLogin(r.Context(), iss.User, iss.Session, iss.Device)
	}
}

// startSession creates a session and answers as login does: cookie for
// browsers, tokens for API clients.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, amr []string) error {
	iss, err := s.openSession(r, u, amr)
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

// openSession creates a new session for u (S1, S17) and runs the
// after-login work. The caller hands out the credential: startSession the
// cookie plus tokens, the pages only the HttpOnly cookie (L16).
func (s *Server) openSession(r *http.Request, u store.User, amr []string) (session.Issued, error) {
	iss, err := s.d.Sessions.Create(r.Context(), u, amr)
	if err != nil {
		return session.Issued{}, err
	}
	s.afterLogin(r, iss)
	return iss, nil
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
	if err := s.endSession(w, r, c.Principal); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSession logs the session out and clears the cookie with the
// attributes it was set with (S14, C7); the JSON logout and the logout
// page share it.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, p session.Principal) error {
	if err := s.d.Sessions.Logout(r.Context(), p); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	perms, err := s.d.RBAC.Permissions(r.Context(), c.User.Roles)
	if err != nil {
		return err
	}
	perms = mergeSorted(perms, c.User.Permissions) // roles plus direct grants (Z11)
	u := viewUser(c.User)
	writeJSON(w, http.StatusOK, whoamiView{User: u, Session: viewSession(c.Session, c.Session.ID), Roles: u.Roles, Permissions: perms, AuthMethod: c.via})
	return nil
}

// whoamiView is the whoami answer (a struct: it is the hottest response).
type whoamiView struct {
	User        userView    `json:"user"`
	Session     sessionView `json:"session"`
	Roles       []string    `json:"roles"`
	Permissions []string    `json:"permissions"`
	AuthMethod  string      `json:"auth_method"`
}

// mergeSorted returns the sorted union of two sorted string lists.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
