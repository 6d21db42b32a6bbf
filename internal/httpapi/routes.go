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
	}
}

func (s *Server) routes() {
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.pattern, rt.handler)
	}
	s.mux.Handle("/", s.public(s.notFound))
}
