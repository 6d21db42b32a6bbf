package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	HTTP     HTTP     `yaml:"http"`
	DataDir  string   `yaml:"data_dir"`
	Database Database `yaml:"database"`
	// RedisURL is optional: shared rate limits and the fan-out that keeps
	// every replica's in-memory caches in step.
	RedisURL secret.Secret `yaml:"redis_url"`
	// RedisPrefix namespaces every Redis key and channel, so several
	// Gatehouse clusters (or test runs) can share one Redis.
	RedisPrefix string        `yaml:"redis_prefix"`
	SMTPURL     secret.Secret `yaml:"smtp_url"`
	MasterKey   secret.Secret `yaml:"master_key"`
	Password    Password      `yaml:"password"`
	Session     Session       `yaml:"session"`
	Tokens      Tokens        `yaml:"tokens"`
	Lockout     Lockout       `yaml:"lockout"`
	RateLimit   RateLimit     `yaml:"rate_limit"`
	Mail        Mail          `yaml:"mail"`
	OneTime     OneTime       `yaml:"one_time_tokens"`
	// RequireEmailVerification blocks login until the email is verified.
	RequireEmailVerification bool   `yaml:"require_email_verification"`
	LogLevel                 string `yaml:"log_level"`
	LogFormat                string `yaml:"log_format"`
}

// HTTP is the listener and browser-facing policy.
type HTTP struct {
	Addr              string        `yaml:"addr"`
	PublicURL         string        `yaml:"public_url"`
	CORSOrigins       []string      `yaml:"cors_origins"`
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Database selects the store.
type Database struct {
	// URL: postgres://... selects PostgreSQL; empty means SQLite in DataDir.
	URL secret.Secret `yaml:"url"`
}

// Password holds argon2id parameters, hashing pool size and policy.
type Password struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
	Workers     int    `yaml:"workers"`
	Queue       int    `yaml:"queue"`
	// InProcess hashes in the server's own goroutines instead of in
	// worker processes (when the binary can start them; see
	// password.ProcessOptions).
	InProcess bool `yaml:"in_process"`
	MinLength int  `yaml:"min_length"`
	MaxLength int  `yaml:"max_length"`
}

// Session holds lifetimes and cookie policy.
type Session struct {
	Lifetime     time.Duration `yaml:"lifetime"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	CookieName   string        `yaml:"cookie_name"`
	SameSite     string        `yaml:"same_site"`
	CookieDomain string        `yaml:"cookie_domain"`
	CacheTTL     time.Duration `yaml:"cache_ttl"`
}

// Tokens holds access and refresh token policy.
type Tokens struct {
	AccessTTL  time.Duration `yaml:"access_ttl"`
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	Algorithm  string        `yaml:"algorithm"`
	Audience   string        `yaml:"audience"`
	// RotateEvery rotates the signing key when the active one is older;
	// 0 turns scheduled rotation off (POST /v1/admin/keys/rotate still works).
	RotateEvery time.Duration `yaml:"rotate_every"`
}

// Mail names the sender and the product in every mail.
type Mail struct {
	ProductName string `yaml:"product_name"`
	From        string `yaml:"from"`
}

// OneTime holds one-time token lifetimes (O6).
type OneTime struct {
	VerifyTTL     time.Duration `yaml:"email_verification"`
	ResetTTL      time.Duration `yaml:"password_reset"`
	MagicLinkTTL  time.Duration `yaml:"magic_link"`
	InvitationTTL time.Duration `yaml:"invitation"`
}

// Lockout is the account lockout policy (R3).
type Lockout struct {
	Threshold int           `yaml:"threshold"`
	Duration  time.Duration `yaml:"duration"`
}

// Limit is N events per Window.
type Limit struct {
	N      int           `yaml:"n"`
	Window time.Duration `yaml:"window"`
}

// RateLimit holds every limit (R1, R2).
type RateLimit struct {
	Disabled            bool  `yaml:"disabled"`
	LoginPerIP          Limit `yaml:"login_per_ip"`
	LoginFailuresPerKey Limit `yaml:"login_failures_per_account_ip"`
	SignupPerIP         Limit `yaml:"signup_per_ip"`
	RefreshPerIP        Limit `yaml:"refresh_per_ip"`
	// MailPerIP bounds the mail-sending and token-redeeming endpoints per
	// IP; MailPerAddress bounds mails per recipient address.
	MailPerIP Limit `yaml:"mail_per_ip"`
	// RevocationsPerIP bounds polls of GET /v1/revocations (SDK verifiers
	// poll about once a second each).
	RevocationsPerIP Limit `yaml:"revocations_per_ip"`
	MailPerAddress   Limit `yaml:"mail_per_address"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		HTTP: HTTP{
			Addr: "127.0.0.1:8080", MaxBodyBytes: 1 << 20,
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			ShutdownTimeout: 15 * time.Second,
		},
		DataDir:     "./data",
		RedisPrefix: "gatehouse:",
		Password:    Password{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, MinLength: 8, MaxLength: 128},
		Session: Session{Lifetime: 24 * time.Hour, IdleTimeout: 2 * time.Hour, CookieName: "gatehouse_session",
			SameSite: "lax", CacheTTL: 30 * time.Second},
		Tokens:  Tokens{AccessTTL: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour, Algorithm: "RS256", RotateEvery: 30 * 24 * time.Hour},
		Lockout: Lockout{Threshold: 5, Duration: 30 * time.Minute},
		Mail:    Mail{ProductName: "Gatehouse", From: "Gatehouse <no-reply@localhost>"},
		OneTime: OneTime{VerifyTTL: 24 * time.Hour, ResetTTL: time.Hour, MagicLinkTTL: 15 * time.Minute, InvitationTTL: 7 * 24 * time.Hour},
		RateLimit: RateLimit{
			LoginPerIP:          Limit{N: 100, Window: time.Minute},
			LoginFailuresPerKey: Limit{N: 5, Window: 15 * time.Minute},
			SignupPerIP:         Limit{N: 60, Window: time.Minute},
			RefreshPerIP:        Limit{N: 300, Window: time.Minute},
			MailPerIP:           Limit{N: 30, Window: time.Minute},
			MailPerAddress:      Limit{N: 5, Window: time.Hour},
			RevocationsPerIP:    Limit{N: 3000, Window: time.Minute},
		},
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// Load builds the configuration from args (flags after the subcommand) and
// getenv. The YAML file named by --config / GATEHOUSE_CONFIG is read first;
// environment variables override it; flags override both.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	var configPath string
	fv := map[string]*string{}
	bv := map[string]*bool{}
	str := func(name, usage string) { fv[name] = fs.String(name, "", usage) }
	str("config", "YAML config file (env GATEHOUSE_CONFIG)")
	str("http", "listen address host:port (env GATEHOUSE_HTTP, default 127.0.0.1:8080)")
	str("data-dir", "data directory for SQLite, keys and outbox (env GATEHOUSE_DATA_DIR, default ./data)")
	str("public-url", "public base URL (env GATEHOUSE_PUBLIC_URL, default http://<http addr>)")
	str("database-url", "postgres://... for PostgreSQL; empty for SQLite (env GATEHOUSE_DATABASE_URL)")
	str("redis-url", "redis://... shared cache and limits (env GATEHOUSE_REDIS_URL)")
	str("smtp-url", "smtp://user:pass@host:port; empty for the dev outbox (env GATEHOUSE_SMTP_URL)")
	str("master-key", "base64 32-byte master key (env GATEHOUSE_MASTER_KEY)")
	str("log-level", "debug, info, warn or error (env GATEHOUSE_LOG_LEVEL)")
	str("cors-origins", "comma-separated allowed CORS origins (env GATEHOUSE_CORS_ORIGINS)")
	bv["require-email-verification"] = fs.Bool("require-email-verification", false, "require a verified email to log in (env GATEHOUSE_REQUIRE_EMAIL_VERIFICATION)")
	bv["disable-rate-limits"] = fs.Bool("disable-rate-limits", false, "turn rate limiting off, for load tests only (env GATEHOUSE_DISABLE_RATE_LIMITS)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	envName := func(flagName string) string {
		return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
	}
	// value returns the flag if given, else the env twin, else "".
	value := func(name string) (string, bool) {
		if set[name] {
			if p, ok := fv[name]; ok {
				return *p, true
			}
			return strconv.FormatBool(*bv[name]), true
		}
		if v := getenv(envName(name)); v != "" {
			return v, true
		}
		return "", false
	}
	if v, ok := value("config"); ok {
		configPath = v
	}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", configPath, err)
		}
	}
	if v, ok := value("http"); ok {
		c.HTTP.Addr = v
	}
	if v, ok := value("data-dir"); ok {
		c.DataDir = v
	}
	if v, ok := value("public-url"); ok {
		c.HTTP.PublicURL = v
	}
	if v, ok := value("database-url"); ok {
		c.Database.URL = secret.Secret(v)
	}
	if v, ok := value("redis-url"); ok {
		c.RedisURL = secret.Secret(v)
	}
	if v, ok := value("smtp-url"); ok {
		c.SMTPURL = secret.Secret(v)
	}
	if v, ok := value("master-key"); ok {
		c.MasterKey = secret.Secret(v)
	}
	if v, ok := value("log-level"); ok {
		c.LogLevel = v
	}
	if v, ok := value("cors-origins"); ok {
		c.HTTP.CORSOrigins = splitList(v)
	}
	for name, dst := range map[string]*bool{"require-email-verification": &c.RequireEmailVerification, "disable-rate-limits": &c.RateLimit.Disabled} {
		if v, ok := value(name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, fmt.Errorf("%s: %q is not true or false", envName(name), v)
			}
			*dst = b
		}
	}
	if c.HTTP.PublicURL == "" {
		c.HTTP.PublicURL = "http://" + c.HTTP.Addr
	}
	c.HTTP.PublicURL = strings.TrimRight(c.HTTP.PublicURL, "/")
	return c, c.Validate()
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks every section and returns all problems at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http: %q is not host:port", c.HTTP.Addr)
	}
	if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("public-url: %q is not an http(s) URL", c.HTTP.PublicURL)
	}
	for _, o := range c.HTTP.CORSOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || o == "*" {
			bad("cors-origins: %q is not an origin like https://app.example.com (wildcards are not allowed)", o)
		}
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		bad("http.max_body_bytes must be positive")
	}
	if c.DataDir == "" {
		bad("data-dir must not be empty")
	}
	if u := c.Database.URL.Reveal(); u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("database-url: must start with postgres:// (or be empty for SQLite)")
	}
	if c.Password.MemoryKiB < 8192 || c.Password.Iterations < 1 || c.Password.Parallelism < 1 {
		bad("password: argon2id needs memory_kib >= 8192, iterations >= 1, parallelism >= 1")
	}
	if c.Password.MinLength < 8 || c.Password.MaxLength < c.Password.MinLength || c.Password.MaxLength > 1024 {
		bad("password: need 8 <= min_length <= max_length <= 1024")
	}
	if c.Session.Lifetime <= 0 || c.Session.IdleTimeout <= 0 {
		bad("session: lifetime and idle_timeout must be positive")
	}
	switch strings.ToLower(c.Session.SameSite) {
	case "lax", "strict":
	default:
		bad("session.same_site: %q must be lax or strict", c.Session.SameSite)
	}
	if c.Tokens.RotateEvery != 0 && c.Tokens.RotateEvery < time.Hour {
		bad("tokens.rotate_every: %s is shorter than an hour (0 turns scheduled rotation off)", c.Tokens.RotateEvery)
	}
	if c.Tokens.AccessTTL <= 0 || c.Tokens.AccessTTL > 24*time.Hour || c.Tokens.RefreshTTL <= 0 {
		bad("tokens: access_ttl must be in (0, 24h] and refresh_ttl positive")
	}
	switch c.Tokens.Algorithm {
	case "RS256", "ES256", "EdDSA":
	default:
		bad("tokens.algorithm: %q must be RS256, ES256 or EdDSA", c.Tokens.Algorithm)
	}
	if c.OneTime.VerifyTTL <= 0 || c.OneTime.ResetTTL <= 0 || c.OneTime.MagicLinkTTL <= 0 || c.OneTime.InvitationTTL <= 0 {
		bad("one_time_tokens: every lifetime must be positive")
	}
	if _, err := mail.ParseAddress(c.Mail.From); err != nil {
		bad("mail.from: %q is not an address like \"Gatehouse <no-reply@example.com>\"", c.Mail.From)
	}
	if u := c.RedisURL.Reveal(); u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") {
		bad("redis-url: must start with redis:// or rediss://")
	}
	if u := c.SMTPURL.Reveal(); u != "" && !strings.HasPrefix(u, "smtp://") && !strings.HasPrefix(u, "smtps://") {
		bad("smtp-url: must start with smtp:// or smtps://")
	}
	if c.Lockout.Threshold < 1 || c.Lockout.Duration <= 0 {
		bad("lockout: threshold and duration must be positive")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level: %q must be debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// IsPostgres reports whether the database URL selects PostgreSQL.
func (c Config) IsPostgres() bool { return c.Database.URL.Reveal() != "" }

// SQLitePath is the database file under the data dir.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "gatehouse.db") }

// Secure reports whether the public URL is https (cookies get Secure and
// HSTS is sent).
func (c Config) Secure() bool { return strings.HasPrefix(c.HTTP.PublicURL, "https://") }
