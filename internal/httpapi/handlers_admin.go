package httpapi

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

const (
	defaultPageSize = 50
	maxPageSize     = 200
	maxQueryLength  = 200
)

// validCursor reports whether c looks like the ids cursors are made of.
func validCursor(c string) bool {
	_, err := uuid.Parse(c)
	return err == nil && len(c) == 36
}

// pageLimit parses ?limit= (1..200, default 50).
func pageLimit(r *http.Request, errs *validation.Errors) int {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPageSize
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		errs.Add("limit", "must be a whole number from 1 to 200")
		return 0
	}
	return n
}

func (s *Server) handleAdminListUsers(w http.ResponseWriter, r *http.Request) error {
	var errs validation.Errors
	limit := pageLimit(r, &errs)
	q := r.URL.Query().Get("query")
	if len(q) > maxQueryLength {
		errs.Add("query", "must be at most 200 characters")
	}
	cursor := r.URL.Query().Get("cursor")
	if cursor != "" && !validCursor(cursor) {
		errs.Add("cursor", "is not a valid cursor")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	users, err := s.d.Identity.List(r.Context(), store.UserQuery{Query: q, After: cursor, Limit: limit + 1})
	if err != nil {
		return err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[len(users)-1].ID
	}
	now := s.now()
	out := make([]adminUserView, 0, len(users))
	for _, u := range users {
		out = append(out, viewAdminUser(u, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "next_cursor": next})
	return nil
}

type adminCreateUserRequest struct {
	signupRequest
	Roles         []string `json:"roles"`
	EmailVerified bool     `json:"email_verified"`
}

func (s *Server) handleAdminCreateUser(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var req adminCreateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.InvitationToken != nil {
		return validation.Errors{{Field: "invitation_token", Message: "is not accepted here"}}
	}
	first, last := req.FirstName, req.LastName
	if first == nil {
		first = req.FName
	}
	if last == nil {
		last = req.LName
	}
	u, err := s.d.Identity.Create(r.Context(), c.User, identity.NewUserInput{
		SignupInput: identity.SignupInput{Email: req.Email, Password: req.Password,
			Profile: identity.Profile{Name: req.Name, FirstName: first, LastName: last}},
		Roles: req.Roles, EmailVerified: req.EmailVerified,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": viewAdminUser(u, s.now())})
	return nil
}

func (s *Server) handleAdminGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.d.Identity.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewAdminUser(u, s.now())})
	return nil
}

type adminPatchUserRequest struct {
	profileRequest
	Email      *string        `json:"email"`
	Attributes map[string]any `json:"attributes"`
}

func (s *Server) handleAdminPatchUser(w http.ResponseWriter, r *http.Request) error {
	var req adminPatchUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, _ := callerFrom(r.Context())
	u, err := s.d.Identity.AdminUpdate(r.Context(), c.User, r.PathValue("id"), identity.AdminPatch{
		Profile: req.profile(), Email: req.Email, Attributes: req.Attributes,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewAdminUser(u, s.now())})
	return nil
}

func (s *Server) handleAdminDeleteUser(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	if err := s.d.Identity.Delete(r.Context(), c.User, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminSetStatus(status string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, _ := callerFrom(r.Context())
		id := r.PathValue("id")
		if err := s.d.Identity.SetStatus(r.Context(), c.User, id, status); err != nil {
			return err
		}
		return s.writeAdminUser(w, r, id)
	}
}

func (s *Server) writeAdminUser(w http.ResponseWriter, r *http.Request, id string) error {
	u, err := s.d.Identity.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewAdminUser(u, s.now())})
	return nil
}

func (s *Server) handleAdminUnlock(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, _ := callerFrom(r.Context())
	if err := s.d.Identity.Unlock(r.Context(), c.User, id); err != nil {
		return err
	}
	return s.writeAdminUser(w, r, id)
}

func (s *Server) handleAdminListSessions(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.d.Identity.Get(r.Context(), id); err != nil {
		return err
	}
	ss, err := s.d.Sessions.List(r.Context(), id)
	if err != nil {
		return err
	}
	c, _ := callerFrom(r.Context())
	out := make([]sessionView, 0, len(ss))
	for _, x := range ss {
		out = append(out, viewSession(x, c.Session.ID))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

func (s *Server) handleAdminRevokeSessions(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, _ := callerFrom(r.Context())
	if _, err := s.d.Identity.Authorize(r.Context(), c.User, id); err != nil {
		return err
	}
	if _, err := s.d.Sessions.RevokeAll(r.Context(), id, ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type rolesRequest struct {
	Roles []string `json:"roles"`
}

func (s *Server) handleAdminSetRoles(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var req rolesRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Roles == nil {
		return validation.Errors{{Field: "roles", Message: "is required (an array, may be empty)"}}
	}
	u, err := s.d.Identity.SetRoles(r.Context(), c.User, r.PathValue("id"), req.Roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": viewAdminUser(u, s.now())})
	return nil
}

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request) error {
	var errs validation.Errors
	limit := pageLimit(r, &errs)
	q := r.URL.Query()
	for _, name := range []string{"type", "user_id"} {
		if len(q.Get(name)) > maxQueryLength {
			errs.Add(name, "must be at most 200 characters")
		}
	}
	if c := q.Get("cursor"); c != "" && !validCursor(c) {
		errs.Add("cursor", "is not a valid cursor")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	evs, err := s.d.Audit.ListAudit(r.Context(), store.AuditQuery{UserID: q.Get("user_id"), Type: q.Get("type"), Before: q.Get("cursor"), Limit: limit + 1})
	if err != nil {
		return err
	}
	next := ""
	if len(evs) > limit {
		evs = evs[:limit]
		next = evs[len(evs)-1].ID
	}
	out := make([]auditView, 0, len(evs))
	for _, e := range evs {
		out = append(out, viewAudit(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": next})
	return nil
}
