package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// maxBatch is the largest check-batch.
const maxBatch = 100

type resourceJSON struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
}

type checkJSON struct {
	Subject  json.RawMessage `json:"subject"`
	Action   string          `json:"action"`
	Resource resourceJSON    `json:"resource"`
	Context  map[string]any  `json:"context"`
}

type decisionJSON struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
	subject string // the user the check was about, for the audit log
}

// denial is one denied check as the audit log records it.
func denial(in checkJSON, d decisionJSON) map[string]any {
	return map[string]any{"subject_id": d.subject, "action": in.Action, "resource_type": in.Resource.Type, "resource_id": in.Resource.ID}
}

// subjectID reads the optional subject: a user id string or {type, id}.
func subjectID(raw json.RawMessage, field string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var id string
	if err := json.Unmarshal(raw, &id); err == nil {
		return id, nil
	}
	var obj struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil || obj.ID == "" || (obj.Type != "" && obj.Type != "user") {
		return "", validation.Errors{{Field: field, Message: `must be a user id or {"type": "user", "id": "..."}`}}
	}
	return obj.ID, nil
}

// checker resolves subjects for one request, loading each at most once.
type checker struct {
	s      *Server
	r      *http.Request
	caller caller
	mayAsk *bool
	users  map[string]authz.Subject
}

func (c *checker) subject(id string) (authz.Subject, error) {
	if id == "" || id == c.caller.User.ID {
		return authz.SubjectFromUser(c.caller.User), nil
	}
	// Asking about someone else needs authz.check.
	if c.mayAsk == nil {
		d, err := c.s.d.Authz.Check(c.r.Context(), authz.Request{Subject: authz.SubjectFromUser(c.caller.User), Action: "authz.check", Resource: authz.Resource{Type: "authz"}})
		if err != nil {
			return authz.Subject{}, err
		}
		c.mayAsk = &d.Allowed
	}
	if !*c.mayAsk {
		return authz.Subject{}, permissionError{"authz.check"}
	}
	if sub, ok := c.users[id]; ok {
		return sub, nil
	}
	u, err := c.s.d.Identity.Get(c.r.Context(), id)
	if err != nil {
		return authz.Subject{}, err
	}
	sub := authz.SubjectFromUser(u) // a suspended user is denied everything
	c.users[id] = sub
	return sub, nil
}

func validateCheck(in checkJSON, prefix string, errs *validation.Errors) {
	if !authz.ValidAction(in.Action) || in.Action == "*" {
		errs.Add(prefix+"action", "is required and must look like posts.update")
	}
	if !authz.ValidResourceType(in.Resource.Type) {
		errs.Add(prefix+"resource.type", "is required and must be a lowercase word like post")
	}
	if len(in.Resource.ID) > 200 {
		errs.Add(prefix+"resource.id", "must be at most 200 characters")
	}
}

func (c *checker) check(in checkJSON, prefix string) (decisionJSON, error) {
	id, err := subjectID(in.Subject, prefix+"subject")
	if err != nil {
		return decisionJSON{}, err
	}
	sub, err := c.subject(id)
	if err != nil {
		return decisionJSON{}, err
	}
	d, err := c.s.d.Authz.Check(c.r.Context(), authz.Request{Subject: sub, Action: in.Action,
		Resource: authz.Resource{Type: in.Resource.Type, ID: in.Resource.ID, Attributes: in.Resource.Attributes}, Context: in.Context})
	if err != nil {
		return decisionJSON{}, err
	}
	return decisionJSON{Allowed: d.Allowed, Reason: d.Reason, subject: sub.ID}, nil
}

func (s *Server) newChecker(r *http.Request) *checker {
	c, _ := callerFrom(r.Context())
	return &checker{s: s, r: r, caller: c, users: map[string]authz.Subject{}}
}

// auditDenials records denied checks in one event per request (R7).
func (s *Server) auditDenials(r *http.Request, denied []map[string]any) {
	if len(denied) == 0 {
		return
	}
	// The target is the user the checks were about when they were all
	// about one; the caller is the actor either way.
	c, _ := callerFrom(r.Context())
	target, _ := denied[0]["subject_id"].(string)
	for _, d := range denied[1:] {
		if d["subject_id"] != target {
			target = c.User.ID
			break
		}
	}
	details := map[string]any{"checks": denied, "denied": len(denied)}
	if len(denied) > 10 {
		details["checks"] = denied[:10]
	}
	ev := audit.MetaFrom(r.Context()).Event("authz.denied", audit.Denied, target, details)
	// A denial changes nothing, so its record need not hold up the
	// answer: it is written in the background, at most auditInFlight at
	// a time; beyond that the request waits (backpressure, nothing lost).
	ctx := context.WithoutCancel(r.Context())
	write := func() {
		if err := s.d.Audit.AppendAudit(ctx, ev); err != nil {
			s.log.WarnContext(ctx, "audit denial", "err", err)
		}
	}
	select {
	case s.auditSlots <- struct{}{}:
		go func() {
			defer func() { <-s.auditSlots }()
			write()
		}()
	default:
		write()
	}
}

func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) error {
	var in checkJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var errs validation.Errors
	validateCheck(in, "", &errs)
	if err := errs.Err(); err != nil {
		return err
	}
	d, err := s.newChecker(r).check(in, "")
	if err != nil {
		return err
	}
	if !d.Allowed {
		s.auditDenials(r, []map[string]any{denial(in, d)})
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

type batchJSON struct {
	Checks []checkJSON `json:"checks"`
}

func (s *Server) handleCheckBatch(w http.ResponseWriter, r *http.Request) error {
	var in batchJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var errs validation.Errors
	if len(in.Checks) == 0 || len(in.Checks) > maxBatch {
		errs.Add("checks", "must hold 1 to 100 checks")
	}
	for i, c := range in.Checks {
		validateCheck(c, "checks["+strconv.Itoa(i)+"].", &errs)
	}
	if err := errs.Err(); err != nil {
		return err
	}
	ck := s.newChecker(r)
	results := make([]decisionJSON, 0, len(in.Checks))
	var denied []map[string]any
	for i, c := range in.Checks {
		d, err := ck.check(c, "checks["+strconv.Itoa(i)+"].")
		if err != nil {
			return err
		}
		if !d.Allowed {
			denied = append(denied, denial(c, d))
		}
		results = append(results, d)
	}
	s.auditDenials(r, denied)
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
	return nil
}

// ---- admin: roles and permissions ----

type roleView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Builtin     bool     `json:"builtin"`
	Permissions []string `json:"permissions"`
}

func viewRole(r store.Role) roleView {
	p := r.Permissions
	if p == nil {
		p = []string{}
	}
	return roleView{Name: r.Name, Description: r.Description, Builtin: r.Builtin, Permissions: p}
}

func (s *Server) handleListRoles(w http.ResponseWriter, r *http.Request) error {
	roles, err := s.d.AuthzAdmin.Roles(r.Context())
	if err != nil {
		return err
	}
	out := make([]roleView, 0, len(roles))
	for _, x := range roles {
		out = append(out, viewRole(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out})
	return nil
}

type roleRequest struct {
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Permissions *[]string `json:"permissions"`
}

func (s *Server) handleCreateRole(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var in roleRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var perms []string
	if in.Permissions != nil {
		perms = *in.Permissions
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	role, err := s.d.AuthzAdmin.CreateRole(r.Context(), c.User, in.Name, desc, perms)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"role": viewRole(role)})
	return nil
}

func (s *Server) handleGetRole(w http.ResponseWriter, r *http.Request) error {
	role, err := s.d.AuthzAdmin.Role(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": viewRole(role)})
	return nil
}

func (s *Server) handlePatchRole(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var in struct {
		Description *string   `json:"description"`
		Permissions *[]string `json:"permissions"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var perms []string
	if in.Permissions != nil {
		perms = *in.Permissions
		if perms == nil {
			perms = []string{}
		}
	}
	role, err := s.d.AuthzAdmin.UpdateRole(r.Context(), c.User, r.PathValue("name"), in.Description, perms)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": viewRole(role)})
	return nil
}

func (s *Server) handleDeleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.AuthzAdmin.DeleteRole(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListPermissions(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.d.AuthzAdmin.Permissions(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, map[string]any{"name": p.Name, "description": p.Description, "created_at": p.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": out})
	return nil
}

func (s *Server) handleCreatePermission(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, err := s.d.AuthzAdmin.CreatePermission(r.Context(), in.Name, in.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"permission": map[string]any{"name": p.Name, "description": p.Description, "created_at": p.CreatedAt}})
	return nil
}

func (s *Server) handleSetUserPermissions(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var in struct {
		Permissions *[]string `json:"permissions"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Permissions == nil {
		return validation.Errors{{Field: "permissions", Message: "is required (an array, may be empty)"}}
	}
	id := r.PathValue("id")
	if _, err := s.d.Identity.Authorize(r.Context(), c.User, id); err != nil {
		return err
	}
	if err := s.d.AuthzAdmin.SetUserPermissions(r.Context(), c.User, id, *in.Permissions); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if _, gerr := s.d.Identity.Get(r.Context(), id); gerr == nil {
				return validation.Errors{{Field: "permissions", Message: "names a permission that does not exist"}}
			}
		}
		return err
	}
	return s.writeAdminUser(w, r, id)
}

// ---- admin: relations and policies ----

type refJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type relationJSON struct {
	Subject    refJSON `json:"subject"`
	Permission string  `json:"permission"`
	Resource   refJSON `json:"resource"`
}

func (in relationJSON) input() authz.RelationInput {
	return authz.RelationInput{SubjectType: in.Subject.Type, SubjectID: in.Subject.ID, Permission: in.Permission, ResourceType: in.Resource.Type, ResourceID: in.Resource.ID}
}

func viewRelation(r store.Relation) map[string]any {
	return map[string]any{"id": r.ID, "subject": map[string]string{"type": r.SubjectType, "id": r.SubjectID}, "permission": r.Permission,
		"resource": map[string]string{"type": r.ResourceType, "id": r.ResourceID}, "created_at": r.CreatedAt}
}

func (s *Server) handleCreateRelation(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	var in relationJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	rel, err := s.d.AuthzAdmin.Grant(r.Context(), c.User, in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"relation": viewRelation(rel)})
	return nil
}

func (s *Server) handleDeleteRelation(w http.ResponseWriter, r *http.Request) error {
	var in relationJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.d.AuthzAdmin.Revoke(r.Context(), in.input()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// splitRef parses "type:id" query values.
func splitRef(v, field string, errs *validation.Errors) (string, string) {
	if v == "" {
		return "", ""
	}
	t, id, ok := strings.Cut(v, ":")
	if !ok || t == "" || id == "" || len(v) > 300 {
		errs.Add(field, "must look like type:id, e.g. post:42 or user:<id>")
		return "", ""
	}
	return t, id
}

func (s *Server) handleListRelations(w http.ResponseWriter, r *http.Request) error {
	var errs validation.Errors
	q := r.URL.Query()
	rt, rid := splitRef(q.Get("resource"), "resource", &errs)
	st, sid := splitRef(q.Get("subject"), "subject", &errs)
	limit := pageLimit(r, &errs)
	if err := errs.Err(); err != nil {
		return err
	}
	rels, err := s.d.AuthzAdmin.Relations(r.Context(), store.RelationQuery{ResourceType: rt, ResourceID: rid, SubjectType: st, SubjectID: sid, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rels))
	for _, x := range rels {
		out = append(out, viewRelation(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"relations": out})
	return nil
}

func viewPolicy(p store.Policy) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "description": p.Description, "effect": p.Effect, "actions": p.Actions,
		"resource_type": p.ResourceType, "condition": p.Condition, "created_at": p.CreatedAt}
}

func (s *Server) handleListPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.d.AuthzAdmin.Policies(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, viewPolicy(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (s *Server) handleCreatePolicy(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name         string   `json:"name"`
		Description  string   `json:"description"`
		Effect       string   `json:"effect"`
		Actions      []string `json:"actions"`
		ResourceType string   `json:"resource_type"`
		Condition    string   `json:"condition"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	c, _ := callerFrom(r.Context())
	p, err := s.d.AuthzAdmin.CreatePolicy(r.Context(), c.User, store.Policy{Name: in.Name, Description: in.Description, Effect: in.Effect,
		Actions: in.Actions, ResourceType: in.ResourceType, Condition: in.Condition})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"policy": viewPolicy(p)})
	return nil
}

func (s *Server) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.AuthzAdmin.DeletePolicy(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
