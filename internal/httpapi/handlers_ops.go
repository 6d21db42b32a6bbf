package httpapi

import (
	"context"
	_ "embed"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// handleReadyz reports whether the database answers within two seconds.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.d.Ready != nil {
		if err := s.d.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
	return nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.d.Registry, promhttp.HandlerOpts{})
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(openAPIDocument)
	return err
}

// handleJWKS publishes the verification keys. The short max-age makes
// verifiers refresh soon after a rotation.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300, must-revalidate")
	writeJSON(w, http.StatusOK, s.d.Keys.JWKS())
	return nil
}

// handleRotateKeys makes a new signing key active; the old one stays
// published until the tokens it signed have expired.
func (s *Server) handleRotateKeys(w http.ResponseWriter, r *http.Request) error {
	c, _ := callerFrom(r.Context())
	kid, err := s.d.Keys.Rotate(r.Context())
	if err != nil {
		return err
	}
	ev := audit.MetaFrom(r.Context()).Event(audit.SigningKeyRotated, audit.Success, "", map[string]any{"kid": kid})
	ev.ActorID = c.User.ID
	if err := s.d.Audit.AppendAudit(r.Context(), ev); err != nil {
		s.log.WarnContext(r.Context(), "audit key rotation", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": kid, "jwks": s.d.Keys.JWKS()})
	return nil
}
