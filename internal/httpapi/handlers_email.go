package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/emailflow"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

type emailRequest struct {
	Email string `json:"email"`
}

type tokenRequest struct {
	Token string `json:"token"`
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

// accepted is the one answer of every request-by-address endpoint: the
// same status and body whether or not the address has an account.
func accepted(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted",
		"message": "If the address belongs to an account, a message is on its way."})
}

// requestByAddress is the shared shape of every "mail me a link" request,
// from the JSON API or a page form: rate-limit per IP, read and check the
// address, rate-limit per address, then start the flow in the background.
// Both callers answer the same whether or not the address has an account,
// and they share the limit buckets of kind.
func (s *Server) requestByAddress(r *http.Request, kind string, read func(*http.Request) (string, error), start func(r *http.Request, email string)) error {
	ip := audit.MetaFrom(r.Context()).IP
	if err := s.limit(r, kind+":ip:"+ip, s.rl().MailPerIP); err != nil {
		return err
	}
	email, err := read(r)
	if err != nil {
		return err
	}
	if err := emailflow.CheckAddress(email); err != nil {
		return err
	}
	// Over the per-address limit the answer stays the same (no mail is
	// sent): a 429 here would tell an attacker the address exists.
	if err := s.limit(r, kind+":addr:"+strings.ToLower(strings.TrimSpace(email)), s.rl().MailPerAddress); err == nil {
		start(r, email)
	}
	return nil
}

// decodeEmail reads the {email} body of the JSON request endpoints.
func decodeEmail(r *http.Request) (string, error) {
	var req emailRequest
	if err := decodeJSON(r, &req); err != nil {
		return "", err
	}
	return req.Email, nil
}

// mailRequest is a JSON request endpoint: requestByAddress, then 202.
func (s *Server) mailRequest(kind string, start func(r *http.Request, email string)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.requestByAddress(r, kind, decodeEmail, start); err != nil {
			return err
		}
		accepted(w)
		return nil
	}
}

// The flows the request endpoints start, shared with the pages.
func (s *Server) startVerification(r *http.Request, email string) {
	s.d.Email.RequestVerification(r.Context(), email)
}

func (s *Server) startPasswordReset(r *http.Request, email string) {
	s.d.Email.RequestPasswordReset(r.Context(), email)
}

func (s *Server) startMagicLink(r *http.Request, email string) {
	s.d.Email.RequestMagicLink(r.Context(), email)
}

func (s *Server) handleVerifyEmailRequest() handlerFunc {
	return s.mailRequest("verify", s.startVerification)
}

func (s *Server) handlePasswordResetRequest() handlerFunc {
	return s.mailRequest("reset", s.startPasswordReset)
}

func (s *Server) handleMagicLinkRequest() handlerFunc {
	return s.mailRequest("magic", s.startMagicLink)
}

// limitRedeem counts one link redemption against the caller's IP; the
// JSON endpoints and the pages share the bucket.
func (s *Server) limitRedeem(r *http.Request) error {
	return s.limit(r, "redeem:ip:"+audit.MetaFrom(r.Context()).IP, s.rl().MailPerIP)
}

func decodeToken(r *http.Request) (string, error) {
	var req tokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return "", err
	}
	if req.Token == "" {
		return "", validation.Errors{{Field: "token", Message: "is required"}}
	}
	return req.Token, nil
}

func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitRedeem(r); err != nil {
		return err
	}
	tok, err := decodeToken(r)
	if err != nil {
		return err
	}
	// The flow drops the user's cached sessions on every replica, so they
	// see the verified address at once (O15).
	u, err := s.d.Email.ConfirmVerification(r.Context(), tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewUser(u)})
	return nil
}

func (s *Server) handlePasswordReset(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitRedeem(r); err != nil {
		return err
	}
	var req resetRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.d.Email.ResetPassword(r.Context(), req.Token, req.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMagicLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitRedeem(r); err != nil {
		return err
	}
	tok, err := decodeToken(r)
	if err != nil {
		return err
	}
	u, err := s.d.Email.ConsumeMagicLink(r.Context(), tok)
	if errors.Is(err, emailflow.ErrInvalidToken) {
		return identity.ErrInvalidCredentials // a failed sign-in, like a failed login
	}
	if err != nil {
		return err
	}
	return s.startSession(w, r, u, []string{"email"})
}

type invitationRequest struct {
	Email    string         `json:"email"`
	Roles    []string       `json:"roles"`
	Metadata map[string]any `json:"metadata"`
}

func (s *Server) handleAdminInvite(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var req invitationRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	inv, err := s.d.Email.Invite(r.Context(), c.User, req.Email, req.Roles, req.Metadata)
	if err != nil {
		return err
	}
	meta := inv.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitation": map[string]any{
		"id": inv.ID, "email": inv.Email, "roles": inv.Roles, "metadata": meta, "expires_at": inv.ExpiresAt,
	}})
	return nil
}
