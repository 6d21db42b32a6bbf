package httpapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/emailflow"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// The pages behind the links in mails. A GET only shows a form with the
// token in a hidden field; the POST redeems it, so a mail scanner that
// prefetches the link spends nothing.

// requestSent is the one answer of every request-by-address form, the
// same whether or not the address has an account.
func (s *site) requestSent(w http.ResponseWriter, r *http.Request) {
	s.message(w, r, http.StatusOK, "Check your email",
		"If the address belongs to an account, a message is on its way.", "/login", "Back to sign in")
}

// emailForm is the "send me a link" form of the reset and verification
// pages.
func (s *site) emailForm(title, text, action, button, email string) pageView {
	v := s.view(title)
	v.Text, v.Action, v.Button, v.Email = text, action, button, email
	return v
}

// byAddress returns the POST handler of a request-by-address form: the
// JSON request endpoint's logic and limit buckets (requestByAddress),
// then the same answer for every address.
func (s *site) byAddress(kind string, start func(r *http.Request, email string), form func(email string) pageView) pageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := s.requestByAddress(r, kind, formEmail, start)
		var verr validation.Errors
		if errors.As(err, &verr) {
			v := form(r.PostFormValue("email"))
			v.Fields, v.Error = fieldMessages(verr, []string{"email"}, nil)
			s.render(w, r, http.StatusBadRequest, "email", v)
			return nil
		}
		if err != nil {
			return err
		}
		s.requestSent(w, r)
		return nil
	}
}

// formToken reads the token of a redeeming POST: from the body only,
// never from the URL.
func formToken(r *http.Request) (string, error) {
	if err := parseForm(r); err != nil {
		return "", err
	}
	return r.PostFormValue("token"), nil
}

// redeemToken is the common start of every link-redeeming POST: the
// redemption rate limit, then the token from the form. A missing token
// renders the invalid-link page (pointing at again) and returns "".
func (s *site) redeemToken(w http.ResponseWriter, r *http.Request, again, againLabel string) (string, error) {
	if err := s.limitRedeem(r); err != nil {
		return "", err
	}
	tok, err := formToken(r)
	if err != nil {
		return "", err
	}
	if tok == "" {
		s.invalidLink(w, r, again, againLabel)
	}
	return tok, nil
}

func (s *site) resendVerificationForm(email string) pageView {
	return s.emailForm("Verify your email address", "Enter your email address and we will send you a new verification link.",
		"/verify-email/request", "Send verification link", email)
}

// getVerifyEmail shows the confirm button of a verification link, or
// without a token the form that mails a new link.
func (s *site) getVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		s.render(w, r, http.StatusOK, "email", s.resendVerificationForm(""))
		return nil
	}
	v := s.view("Verify your email address")
	v.Text = "Confirm that this email address is yours."
	v.Action, v.Button, v.Token = "/verify-email", "Verify my email address", tok
	s.render(w, r, http.StatusOK, "confirm", v)
	return nil
}

// postVerifyEmail redeems a verification token (O15) like the JSON
// endpoint does.
func (s *site) postVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.redeemToken(w, r, "/verify-email", "Send a new link")
	if err != nil || tok == "" {
		return err
	}
	if _, err := s.d.Email.ConfirmVerification(r.Context(), tok); errors.Is(err, emailflow.ErrInvalidToken) {
		s.invalidLink(w, r, "/verify-email", "Send a new link")
		return nil
	} else if err != nil {
		return err
	}
	s.message(w, r, http.StatusOK, "Email verified", "Your email address is verified.", "/login", "Sign in")
	return nil
}

func (s *site) forgotForm(email string) pageView {
	return s.emailForm("Reset your password", "Enter the email address of your account and we will send you a link to choose a new password.",
		"/reset-password/request", "Send reset link", email)
}

// getResetPassword shows the new-password form of a reset link, or
// without a token the form that asks for the address.
func (s *site) getResetPassword(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		s.render(w, r, http.StatusOK, "email", s.forgotForm(""))
		return nil
	}
	v := s.view("Choose a new password")
	v.Token = tok
	s.render(w, r, http.StatusOK, "reset", v)
	return nil
}

// postResetPassword completes a reset like the JSON endpoint (O14): a
// rejected password re-shows the form without spending the token.
func (s *site) postResetPassword(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.redeemToken(w, r, "/reset-password", "Request a new link")
	if err != nil || tok == "" {
		return err
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("password_confirm")
	retry := func(fields map[string]string, general string) {
		v := s.view("Choose a new password")
		v.Token, v.Fields, v.Error = tok, fields, general
		s.render(w, r, http.StatusBadRequest, "reset", v)
	}
	if pw != "" && pw != confirm {
		retry(map[string]string{"password_confirm": "The two passwords do not match."}, "")
		return nil
	}
	err = s.d.Email.ResetPassword(r.Context(), tok, pw)
	var verr validation.Errors
	switch {
	case errors.Is(err, emailflow.ErrInvalidToken):
		s.invalidLink(w, r, "/reset-password", "Request a new link")
		return nil
	case errors.As(err, &verr):
		retry(fieldMessages(verr, []string{"password"}, map[string]string{"new_password": "password"}))
		return nil
	case err != nil:
		return err
	}
	// Every session of the user is gone (P7); drop this browser's cookie.
	if c, err := r.Cookie(s.cookieName); err == nil && c.Value != "" {
		s.clearSessionCookie(w)
	}
	s.message(w, r, http.StatusOK, "Password changed",
		"Your password has been changed and every device was signed out. Sign in with your new password.", "/login", "Sign in")
	return nil
}

// getMagicLink shows the sign-in button of a magic link.
func (s *site) getMagicLink(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		s.invalidLink(w, r, "/login", "Back to sign in")
		return nil
	}
	v := s.view("Sign in to " + s.product())
	v.Text = "Continue to sign in with the link from your email."
	v.Action, v.Button, v.Token = "/magic-link", "Sign me in", tok
	s.render(w, r, http.StatusOK, "confirm", v)
	return nil
}

// postMagicLink redeems a magic link and signs in like the JSON endpoint,
// handing the browser only the HttpOnly cookie (L16).
func (s *site) postMagicLink(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.redeemToken(w, r, "/login", "Back to sign in")
	if err != nil || tok == "" {
		return err
	}
	u, err := s.d.Email.ConsumeMagicLink(r.Context(), tok)
	if errors.Is(err, emailflow.ErrInvalidToken) {
		s.invalidLink(w, r, "/login", "Back to sign in")
		return nil
	}
	if err != nil {
		return err
	}
	iss, err := s.openSession(r, u, []string{"email"})
	if err != nil {
		return err
	}
	s.setSessionCookie(w, iss.Token.Reveal(), iss.Session.ExpiresAt)
	redirect(w, r, "/account")
	return nil
}
