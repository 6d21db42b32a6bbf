package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// statusWriter records the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestIDs makes request ids: a random per-process prefix and a counter,
// unique across restarts and replicas without a random read per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b)}
}

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// requestIDFrom returns the request id the outer middleware stored in the
// request's audit metadata.
func requestIDFrom(ctx context.Context) string {
	return audit.MetaFrom(ctx).RequestID
}

// isBearer reports whether an Authorization header uses the Bearer scheme.
func isBearer(h string) bool {
	return len(h) > 7 && strings.EqualFold(h[:7], "Bearer ")
}

// logHandler wraps a slog handler to add the request id of the context.
type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(a []slog.Attr) slog.Handler { return logHandler{h.Handler.WithAttrs(a)} }
func (h logHandler) WithGroup(n string) slog.Handler      { return logHandler{h.Handler.WithGroup(n)} }

// clientIP returns the caller's address. X-Forwarded-For is believed only
// from trusted proxies, walking from the right.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.trusted) == 0 || !s.isTrusted(host) {
		return host
	}
	parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip := strings.TrimSpace(parts[i])
		if _, err := netip.ParseAddr(ip); err != nil {
			break
		}
		if !s.isTrusted(ip) {
			return ip
		}
		host = ip
	}
	return host
}

func (s *Server) isTrusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range s.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// outer is the first middleware: request id, metadata, recovery, security
// headers, logging and metrics.
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.ids.next()
		ctx := audit.WithMeta(r.Context(), audit.Meta{IP: s.clientIP(r), UserAgent: truncate(r.UserAgent(), 512), RequestID: id})
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		h := sw.Header()
		h["X-Request-Id"] = []string{id}
		s.securityHeaders(h)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !sw.wrote {
					writeError(ctx, s.log, sw, fmt.Errorf("panic: %v", v))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.metrics.observe(r.Method, route, sw.status, elapsed)
			// Only the path is logged: query strings may hold one-time
			// tokens (O7, T7).
			s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Duration("took", elapsed), slog.String("ip", audit.MetaFrom(ctx).IP))
		}()
		next.ServeHTTP(sw, r)
	})
}

// truncate makes s valid UTF-8 without control bytes and cuts it to at
// most n bytes on a character boundary (it is stored and shown).
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fixedHeaders are the header values the server sets on most responses,
// built once: a response's header map takes the same one-element slice
// instead of a new one per request. The slices are never written in place,
// and their capacity is their length, so an Add copies before it appends.
type fixedHeaders struct {
	// security are sent on every response (T13). Pages override the CSP
	// with their own.
	security   []headerValue
	noStore    []string
	varyOrigin []string
}

type headerValue struct {
	key string // canonical form
	val []string
}

func one(v string) []string { return []string{v} }

func newFixedHeaders(secure bool) fixedHeaders {
	f := fixedHeaders{
		security: []headerValue{
			{"X-Content-Type-Options", one("nosniff")},
			{"X-Frame-Options", one("DENY")},
			{"Referrer-Policy", one("no-referrer")},
			{"Content-Security-Policy", one("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")},
		},
		noStore:    one("no-store"),
		varyOrigin: one("Origin"),
	}
	if secure {
		f.security = append(f.security, headerValue{"Strict-Transport-Security", one("max-age=63072000; includeSubDomains")})
	}
	return f
}

func (s *Server) securityHeaders(h http.Header) {
	for _, kv := range s.fixed.security {
		h[kv.key] = kv.val
	}
}

// cors answers preflights and decorates responses for allowed origins
// only (T11): no wildcard, Vary: Origin, credentials for listed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h["Vary"] = s.fixed.varyOrigin
		allowed := origin != "" && s.corsOrigins[origin]
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id, WWW-Authenticate")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if allowed {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Requested-With")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// guard applies the body limit and CSRF protection. CSRF applies to
// state-changing requests that do not carry an Authorization header
// (cookie-authenticated or anonymous browser requests, T8/T9); bearer
// requests cannot be forged by a browser and skip it.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		if r.ContentLength > s.maxBody {
			writeError(r.Context(), s.log, w, &http.MaxBytesError{Limit: s.maxBody})
			return
		}
		// Only a Bearer credential exempts a request: browsers attach Basic,
		// Digest or Negotiate credentials to cross-site posts by themselves.
		if !isBearer(r.Header.Get("Authorization")) && r.Header.Get("X-API-Key") == "" {
			if err := s.csrf.Check(r); err != nil {
				writeError(r.Context(), s.log, w, errCSRF)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
