package httpapi

import "net/http"

// route is one entry of the route table; openapi_test checks the table
// against the published OpenAPI document.
type route struct {
	pattern string
	handler http.Handler
}

// routeTable lists every route Gatehouse serves.
func (s *Server) routeTable() []route {
	return []route{
		// Running.
		{"GET /healthz", s.public(s.handleHealthz)},
		{"GET /readyz", s.public(s.handleReadyz)},
		{"GET /metrics", s.metricsHandler()},
		{"GET /openapi.json", s.public(s.handleOpenAPI)},
		{"GET /.well-known/jwks.json", s.public(s.handleJWKS)},
		{"GET /v1/revocations", s.public(s.handleRevocations)},

		// First-party authentication.
		{"POST /v1/auth/signup", s.public(s.handleSignup)},
		{"POST /v1/auth/login", s.public(s.handleLogin)},
		{"POST /v1/auth/refresh", s.public(s.handleRefresh)},
		{"POST /v1/auth/logout", s.authed(s.handleLogout)},
		{"GET /v1/auth/whoami", s.authed(s.handleWhoami)},
		{"POST /v1/auth/verify-email/request", s.public(s.handleVerifyEmailRequest())},
		{"POST /v1/auth/verify-email", s.public(s.handleVerifyEmail)},
		{"POST /v1/auth/password-reset/request", s.public(s.handlePasswordResetRequest())},
		{"POST /v1/auth/password-reset", s.public(s.handlePasswordReset)},
		{"POST /v1/auth/magic-link/request", s.public(s.handleMagicLinkRequest())},
		{"POST /v1/auth/magic-link", s.public(s.handleMagicLink)},

		// The caller's own account.
		{"GET /v1/me", s.authed(s.handleGetMe)},
		{"PATCH /v1/me", s.authed(s.handlePatchMe)},
		{"POST /v1/me/password", s.authed(s.handleChangePassword)},
		{"GET /v1/me/sessions", s.authed(s.handleListMySessions)},
		{"DELETE /v1/me/sessions", s.authed(s.handleRevokeOtherSessions)},
		{"DELETE /v1/me/sessions/{id}", s.authed(s.handleRevokeMySession)},

		// Admin: users and audit.
		{"GET /v1/admin/users", s.admin("users.read", s.handleAdminListUsers)},
		{"POST /v1/admin/users", s.admin("users.create", s.handleAdminCreateUser)},
		{"GET /v1/admin/users/{id}", s.admin("users.read", s.handleAdminGetUser)},
		{"PATCH /v1/admin/users/{id}", s.admin("users.update", s.handleAdminPatchUser)},
		{"DELETE /v1/admin/users/{id}", s.admin("users.delete", s.handleAdminDeleteUser)},
		{"POST /v1/admin/users/{id}/suspend", s.admin("users.update", s.adminSetStatus("suspended"))},
		{"POST /v1/admin/users/{id}/unsuspend", s.admin("users.update", s.adminSetStatus("active"))},
		{"POST /v1/admin/users/{id}/unlock", s.admin("users.update", s.handleAdminUnlock)},
		{"GET /v1/admin/users/{id}/sessions", s.admin("users.read", s.handleAdminListSessions)},
		{"DELETE /v1/admin/users/{id}/sessions", s.admin("users.update", s.handleAdminRevokeSessions)},
		{"PUT /v1/admin/users/{id}/roles", s.admin("roles.assign", s.handleAdminSetRoles)},
		{"GET /v1/admin/audit-events", s.admin("audit.read", s.handleAdminAudit)},
		{"POST /v1/admin/invitations", s.admin("invitations.create", s.handleAdminInvite)},
		{"POST /v1/admin/keys/rotate", s.admin("keys.rotate", s.handleRotateKeys)},

		// Authorization checks (any authenticated caller; another subject
		// needs authz.check).
		{"POST /v1/authz/check", s.authed(s.handleCheck)},
		{"POST /v1/authz/check-batch", s.authed(s.handleCheckBatch)},

		// Admin: roles, permissions, grants, relations, policies.
		{"GET /v1/admin/roles", s.admin("roles.read", s.handleListRoles)},
		{"POST /v1/admin/roles", s.admin("roles.manage", s.handleCreateRole)},
		{"GET /v1/admin/roles/{name}", s.admin("roles.read", s.handleGetRole)},
		{"PATCH /v1/admin/roles/{name}", s.admin("roles.manage", s.handlePatchRole)},
		{"DELETE /v1/admin/roles/{name}", s.admin("roles.manage", s.handleDeleteRole)},
		{"GET /v1/admin/permissions", s.admin("roles.read", s.handleListPermissions)},
		{"POST /v1/admin/permissions", s.admin("permissions.manage", s.handleCreatePermission)},
		{"PUT /v1/admin/users/{id}/permissions", s.admin("roles.assign", s.handleSetUserPermissions)},
		{"GET /v1/admin/relations", s.admin("relations.manage", s.handleListRelations)},
		{"POST /v1/admin/relations", s.admin("relations.manage", s.handleCreateRelation)},
		{"DELETE /v1/admin/relations", s.admin("relations.manage", s.handleDeleteRelation)},
		{"GET /v1/admin/policies", s.admin("policies.manage", s.handleListPolicies)},
		{"POST /v1/admin/policies", s.admin("policies.manage", s.handleCreatePolicy)},
		{"DELETE /v1/admin/policies/{id}", s.admin("policies.manage", s.handleDeletePolicy)},
	}
}

// pageTable lists the server-rendered pages (API.md "Web pages") and
// their stylesheet. They are HTML for browsers, not part of the API, so
// they are kept out of routeTable and openapi.json.
func (s *Server) pageTable() []route {
	p := newSite(s)
	return []route{
		{"GET /assets/gatehouse.css", http.HandlerFunc(p.handleCSS)},
		{"GET /login", p.page(p.getLogin)},
		{"POST /login", p.page(p.postLogin)},
		{"GET /logout", p.page(p.getLogout)},
		{"POST /logout", p.page(p.postLogout)},
		{"GET /account", p.page(p.getAccount)},
		{"GET /signup", p.page(p.getSignup)},
		{"POST /signup", p.page(p.postSignup)},
		{"GET /verify-email", p.page(p.getVerifyEmail)},
		{"POST /verify-email", p.page(p.postVerifyEmail)},
		{"POST /verify-email/request", p.page(p.byAddress("verify", s.startVerification, p.resendVerificationForm))},
		{"GET /reset-password", p.page(p.getResetPassword)},
		{"POST /reset-password", p.page(p.postResetPassword)},
		{"POST /reset-password/request", p.page(p.byAddress("reset", s.startPasswordReset, p.forgotForm))},
		{"GET /magic-link", p.page(p.getMagicLink)},
		{"POST /magic-link", p.page(p.postMagicLink)},
	}
}

func (s *Server) routes() {
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.pattern, rt.handler)
	}
	for _, rt := range s.pageTable() {
		s.mux.Handle(rt.pattern, rt.handler)
	}
	s.mux.Handle("/", s.public(s.notFound))
}
