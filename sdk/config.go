package gatehouse

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by [NewVerifier] and [NewClient] to zero Config fields.
const (
	DefaultHTTPTimeout    = 10 * time.Second
	DefaultJWKSRefresh    = 5 * time.Minute
	DefaultRevocationPoll = time.Second
	DefaultRevokedTTL     = time.Hour
	DefaultLeeway         = 30 * time.Second

	// minForcedRefresh is the shortest interval between two JWKS fetches
	// caused by tokens with an unknown kid, so forged kids cannot turn
	// every request into a call to the server.
	minForcedRefresh = 10 * time.Second
	// maxTokenBytes is the largest token Verify looks at (the server's
	// own limit).
	maxTokenBytes = 8 << 10
	// maxResponseBytes bounds every response body the SDK reads.
	maxResponseBytes = 4 << 20
	userAgent        = "gatehouse-go-sdk"
)

// Config says where Gatehouse is and how the SDK talks to it. The zero
// value of every field except BaseURL means its documented default.
type Config struct {
	// BaseURL is Gatehouse's public URL, e.g. https://auth.example.com. It
	// is also the issuer (iss) every access token must carry. A trailing
	// slash is ignored. Required.
	BaseURL string

	// Audience is the aud value tokens must contain; default BaseURL
	// (Gatehouse's default audience).
	Audience string

	// HTTPClient makes every call to Gatehouse; default a client with a
	// 10 s timeout.
	HTTPClient *http.Client

	// JWKSRefresh is the longest time a fetched JWKS is used before it is
	// fetched again in the background; default 5 minutes. Independently, a
	// token whose kid is not in the cache makes Verify fetch the JWKS at
	// once, at most once per 10 s, so a key rotation is picked up on its
	// first token.
	JWKSRefresh time.Duration

	// RevocationPoll is how often the Verifier asks GET /v1/revocations for
	// sessions that ended; default 1 s. A negative value disables polling,
	// and with it revocation awareness: tokens then stay valid until they
	// expire. (Zero cannot mean "off": a zero Config must be the safe one.)
	RevocationPoll time.Duration

	// RevokedTTL is how long a revoked session id is remembered, counted
	// from its revocation. It must be at least the longest access-token
	// lifetime the server issues (after that every token of the session
	// has expired anyway); default 1 h.
	RevokedTTL time.Duration

	// Leeway absorbs clock skew on exp, nbf and iat; default 30 s. A
	// negative value means none.
	Leeway time.Duration

	// Logger receives warnings about background work (failed JWKS
	// refreshes and revocation polls); default slog.Default().
	Logger *slog.Logger
}

// settings is a Config with defaults applied and the URLs derived.
type settings struct {
	Config
	issuer  string
	jwksURL string
	revURL  string
	hc      *http.Client
	log     *slog.Logger
	leeway  time.Duration
	pollOff bool
}

// resolve validates c and fills in the defaults.
func (c Config) resolve() (settings, error) {
	base := strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if base == "" {
		return settings{}, errors.New("gatehouse: Config.BaseURL is required")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return settings{}, fmt.Errorf("gatehouse: Config.BaseURL %q is not an http(s) URL without query or fragment", c.BaseURL)
	}
	s := settings{Config: c, issuer: base}
	s.BaseURL = base
	if s.Audience == "" {
		s.Audience = base
	}
	s.hc = c.HTTPClient
	if s.hc == nil {
		s.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	s.log = c.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.JWKSRefresh <= 0 {
		s.JWKSRefresh = DefaultJWKSRefresh
	}
	switch {
	case s.RevocationPoll < 0:
		s.pollOff = true
	case s.RevocationPoll == 0:
		s.RevocationPoll = DefaultRevocationPoll
	}
	if s.RevokedTTL <= 0 {
		s.RevokedTTL = DefaultRevokedTTL
	}
	switch {
	case c.Leeway == 0:
		s.leeway = DefaultLeeway
	case c.Leeway > 0:
		s.leeway = c.Leeway
	}
	s.jwksURL = base + "/.well-known/jwks.json"
	s.revURL = base + "/v1/revocations"
	return s, nil
}
