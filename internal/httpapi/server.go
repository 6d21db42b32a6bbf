package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/emailflow"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/keyset"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/prometheus/client_golang/prometheus"
)

// AuditStore is what the HTTP layer reads and appends directly.
type AuditStore interface {
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
}

// TokenVerifier checks access tokens offline (*token.Verifier or the
// caching *token.CachedVerifier).
type TokenVerifier interface {
	Verify(tok string) (token.Claims, error)
}

// Deps are the services the HTTP layer calls.
type Deps struct {
	Config   config.Config
	Log      *slog.Logger
	Identity *identity.Service
	Sessions *session.Service
	RBAC     *authz.RBAC
	// Authz answers checks; AuthzAdmin manages roles, grants and policies.
	Authz      *authz.Engine
	AuthzAdmin *authz.Admin
	Issuer     *token.Issuer
	Verifier   TokenVerifier
	Keys       *keyset.Set
	Limiter    ratelimit.Limiter
	Audit      AuditStore
	Email      *emailflow.Service
	// Revocations feeds GET /v1/revocations.
	Revocations RevocationFeed
	// Ready reports whether the database is reachable (/readyz).
	Ready func(ctx context.Context) error
	// Registry receives the HTTP metrics and serves /metrics.
	Registry *prometheus.Registry
}

// Server is Gatehouse's HTTP handler.
type Server struct {
	d           Deps
	ids         *requestIDs
	auditSlots  chan struct{} // background audit writes in flight
	log         *slog.Logger
	mux         *http.ServeMux
	handler     http.Handler
	metrics     *metrics
	corsOrigins map[string]bool
	csrf        *http.CrossOriginProtection
	trusted     []netip.Prefix
	maxBody     int64
	secure      bool
	cookieName  string
	sameSite    http.SameSite
	fixed       fixedHeaders
}

// New builds the handler with every route and middleware.
func New(d Deps) *Server {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		d:           d,
		ids:         newRequestIDs(),
		auditSlots:  make(chan struct{}, auditInFlight),
		log:         slog.New(logHandler{log.Handler()}),
		mux:         http.NewServeMux(),
		corsOrigins: map[string]bool{},
		csrf:        http.NewCrossOriginProtection(),
		maxBody:     d.Config.HTTP.MaxBodyBytes,
		secure:      d.Config.Secure(),
		cookieName:  d.Config.Session.CookieName,
		sameSite:    http.SameSiteLaxMode,
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.cookieName == "" {
		s.cookieName = "gatehouse_session"
	}
	if strings.EqualFold(d.Config.Session.SameSite, "strict") {
		s.sameSite = http.SameSiteStrictMode
	}
	for _, o := range d.Config.HTTP.CORSOrigins {
		s.corsOrigins[o] = true
		_ = s.csrf.AddTrustedOrigin(o)
	}
	if u, err := url.Parse(d.Config.HTTP.PublicURL); err == nil && u.Host != "" {
		_ = s.csrf.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	for _, c := range d.Config.HTTP.TrustedProxies {
		if p, err := netip.ParsePrefix(c); err == nil {
			s.trusted = append(s.trusted, p)
		}
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		s.d.Registry = reg
	}
	s.fixed = newFixedHeaders(s.secure)
	s.metrics = newMetrics(reg)
	s.routes()
	s.handler = s.outer(s.cors(s.guard(s.mux)))
	return s
}

// auditInFlight bounds background audit writes.
const auditInFlight = 64

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Metrics exposes the login outcome counter to services that count.
func (s *Server) now() time.Time { return time.Now().UTC() }

// notFound answers unmatched routes: 405 with Allow when the path exists
// for other methods, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &methodNotAllowed{allow: strings.Join(allow, ", ")}
	}
	return errNotFound
}
