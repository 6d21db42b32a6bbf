package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// loginFailed is the one message for every failed sign-in (L3/L4): it
// never says whether the address or the password was wrong.
const loginFailed = "Email or password is incorrect."

func (s *site) loginForm(email string) pageView {
	v := s.view("Sign in")
	v.Email = email
	return v
}

// getLogin shows the sign-in form, or sends a signed-in browser on to its
// account.
func (s *site) getLogin(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := s.pageSession(r); err != nil {
		return err
	} else if ok {
		redirect(w, r, "/account")
		return nil
	}
	s.render(w, r, http.StatusOK, "login", s.loginForm(""))
	return nil
}

// postLogin signs in with the JSON login's logic (limits, failure
// counting, metrics) and hands the browser only the HttpOnly cookie (L16).
func (s *site) postLogin(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	if strings.TrimSpace(email) == "" || pw == "" {
		v := s.loginForm(email)
		v.Error = "Enter your email address and password."
		s.render(w, r, http.StatusBadRequest, "login", v)
		return nil
	}
	u, err := s.passwordLogin(r, email, pw)
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials):
		v := s.loginForm(email)
		v.Error = loginFailed
		s.render(w, r, http.StatusUnauthorized, "login", v)
		return nil
	case errors.Is(err, identity.ErrEmailNotVerified):
		// Only someone who knew the password gets here.
		v := s.loginForm(email)
		v.Error = "Verify your email address before signing in: follow the link we sent you."
		v.Link, v.LinkText = "/verify-email", "Send a new verification link"
		s.render(w, r, http.StatusForbidden, "login", v)
		return nil
	case err != nil:
		return err
	}
	iss, err := s.openSession(r, u, []string{"pwd"})
	if err != nil {
		return err
	}
	s.setSessionCookie(w, iss.Token.Reveal(), iss.Session.ExpiresAt)
	redirect(w, r, "/account")
	return nil
}

// getAccount is the minimal account page: who is signed in, and a way
// out. Without a live session it sends the browser to sign in.
func (s *site) getAccount(w http.ResponseWriter, r *http.Request) error {
	p, hadCookie, ok, err := s.pageSession(r)
	if err != nil {
		return err
	}
	if !ok {
		if hadCookie {
			s.clearSessionCookie(w) // dead: logged out, revoked or expired
		}
		redirect(w, r, "/login")
		return nil
	}
	v := s.view("Your account")
	v.Email, v.Name = p.User.Email, p.User.Name
	s.render(w, r, http.StatusOK, "account", v)
	return nil
}

// getLogout asks before signing out: a GET never changes state (T9).
func (s *site) getLogout(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok, err := s.pageSession(r); err != nil {
		return err
	} else if !ok {
		redirect(w, r, "/login")
		return nil
	}
	v := s.view("Sign out")
	v.Text, v.Action, v.Button = "Sign out of "+v.Product+" on this device?", "/logout", "Sign out"
	s.render(w, r, http.StatusOK, "confirm", v)
	return nil
}

// postLogout ends the cookie's session like the JSON logout (S14) and
// clears the cookie with the same attributes (C7).
func (s *site) postLogout(w http.ResponseWriter, r *http.Request) error {
	p, hadCookie, ok, err := s.pageSession(r)
	if err != nil {
		return err
	}
	if ok {
		if err := s.endSession(w, r, p); err != nil {
			return err
		}
	} else if hadCookie {
		s.clearSessionCookie(w)
	}
	redirect(w, r, "/login")
	return nil
}

func (s *site) signupForm(email, name, invitation string) pageView {
	v := s.view("Create your account")
	v.Email, v.Name, v.Invitation = email, name, invitation
	return v
}

// getSignup shows the signup form; an invitation link's token rides along
// in a hidden field and is redeemed only by the POST.
func (s *site) getSignup(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "signup", s.signupForm("", "", r.URL.Query().Get("invitation")))
	return nil
}

// postSignup signs up with the JSON signup's logic: the same limit, and
// with verification required the same answer for new and existing
// addresses (U11).
func (s *site) postSignup(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitSignup(r); err != nil {
		return err
	}
	if err := parseForm(r); err != nil {
		return err
	}
	email, name, pw := r.PostFormValue("email"), r.PostFormValue("name"), r.PostFormValue("password")
	invitation := r.PostFormValue("invitation")
	in := identity.SignupInput{Email: email, Password: pw, InvitationToken: invitation}
	if strings.TrimSpace(name) != "" {
		in.Name = &name
	}
	u, pending, err := s.register(r, in)
	var verr validation.Errors
	switch {
	case errors.As(err, &verr):
		v := s.signupForm(email, name, invitation)
		v.Fields, v.Error = fieldMessages(verr, []string{"email", "name", "password"}, nil)
		s.render(w, r, http.StatusBadRequest, "signup", v)
		return nil
	case errors.Is(err, identity.ErrInvalidInvitation):
		v := s.signupForm(email, name, invitation)
		v.Error = "This invitation is invalid, has expired, was already used, or is for another address."
		s.render(w, r, http.StatusBadRequest, "signup", v)
		return nil
	case errors.Is(err, identity.ErrEmailTaken):
		// Only reachable when verification is not required, where the
		// JSON API answers 409 the same way.
		v := s.signupForm(email, name, invitation)
		v.Error = "This email address is already registered. Sign in, or reset your password if you forgot it."
		s.render(w, r, http.StatusConflict, "signup", v)
		return nil
	case err != nil:
		return err
	}
	if pending {
		v := s.view("Check your email")
		v.Text = "To finish signing up, follow the link in the message we sent to " + strings.TrimSpace(email) + "."
		v.More = "The link works for a limited time. If nothing arrives, check your spam folder."
		s.render(w, r, http.StatusOK, "message", v)
		return nil
	}
	v := s.view("Account created")
	v.Text = "Your account " + u.Email + " is ready."
	if !u.EmailVerified {
		v.More = "We also sent you a link to verify your email address."
	}
	v.Link, v.LinkText = "/login", "Sign in"
	s.render(w, r, http.StatusOK, "message", v)
	return nil
}
