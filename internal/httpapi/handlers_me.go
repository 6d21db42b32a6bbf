package httpapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/identity"
)

func (s *Server) handleGetMe(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"user": viewUser(c.User)})
	return nil
}

type profileRequest struct {
	Name      *string `json:"name"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
	FName     *string `json:"fName"`
	LName     *string `json:"lName"`
}

func (p profileRequest) profile() identity.Profile {
	first, last := p.FirstName, p.LastName
	if first == nil {
		first = p.FName
	}
	if last == nil {
		last = p.LName
	}
	return identity.Profile{Name: p.Name, FirstName: first, LastName: last}
}

func (s *Server) handlePatchMe(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var req profileRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.d.Identity.UpdateProfile(r.Context(), c.User.ID, req.profile())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewUser(u)})
	return nil
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var req passwordRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// Wrong current passwords are limited per user like login failures, so
	// a stolen session cannot be used to guess the password.
	key := "pwchange:fail:" + c.User.ID
	if err := s.checkFailures(r, key); err != nil {
		return err
	}
	if err := s.d.Identity.ChangePassword(r.Context(), c.User.ID, c.Session.ID, req.CurrentPassword, req.NewPassword); err != nil {
		if errors.Is(err, identity.ErrInvalidCredentials) {
			s.countFailure(r, key)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListMySessions(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	ss, err := s.d.Sessions.List(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	out := make([]sessionView, 0, len(ss))
	for _, x := range ss {
		out = append(out, viewSession(x, c.Session.ID))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

func (s *Server) handleRevokeMySession(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	id := r.PathValue("id")
	if err := s.d.Sessions.Revoke(r.Context(), c.User.ID, id); err != nil {
		return err
	}
	if id == c.Session.ID && c.via == viaCookie {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRevokeOtherSessions(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	if _, err := s.d.Sessions.RevokeAll(r.Context(), c.User.ID, c.Session.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
