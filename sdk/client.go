package gatehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client is a typed client for Gatehouse's first-party JSON API. It is
// safe for concurrent use and keeps no credentials: every call that acts
// for a user takes that user's token.
type Client struct {
	s   settings
	err error // a bad Config, returned by every call
}

// NewClient returns a Client for cfg (BaseURL and HTTPClient are used; the
// verification fields are ignored). An invalid Config is reported by the
// first call.
func NewClient(cfg Config) *Client {
	s, err := cfg.resolve()
	if err != nil {
		return &Client{err: err}
	}
	return newClient(s)
}

func newClient(s settings) *Client { return &Client{s: s} }

// APIError is a non-2xx answer from Gatehouse, parsed from its RFC 9457
// problem document. Code is stable and machine-readable
// ("invalid_credentials", "unauthenticated", "forbidden",
// "validation_failed", "rate_limited", ...); it is empty when the answer
// was not a problem document.
type APIError struct {
	Status     int
	Code       string
	Title      string
	Detail     string
	Type       string
	Errors     []FieldError  // per-field messages of validation_failed
	RetryAfter time.Duration // from Retry-After (429, 503), zero when absent
}

// FieldError is one invalid field of a validation_failed answer.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gatehouse: HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	switch {
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	case e.Title != "":
		b.WriteString(": " + e.Title)
	}
	for _, f := range e.Errors {
		fmt.Fprintf(&b, "; %s %s", f.Field, f.Message)
	}
	return b.String()
}

// ErrMFARequired is wrapped by the error Login returns when the account
// has a second factor; the error is a [*MFARequiredError] that carries the
// token for [Client.LoginMFA].
var ErrMFARequired = errors.New("gatehouse: second factor required")

// MFARequiredError is Login's answer for accounts with MFA on.
type MFARequiredError struct {
	MFAToken string   // pass to LoginMFA with the user's code
	Methods  []string // e.g. "totp", "recovery_code"
}

func (e *MFARequiredError) Error() string { return ErrMFARequired.Error() }

// Unwrap makes errors.Is(err, ErrMFARequired) true.
func (e *MFARequiredError) Unwrap() error { return ErrMFARequired }

// User is a Gatehouse user as the API shows it.
type User struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	FirstName     string    `json:"first_name"`
	LastName      string    `json:"last_name"`
	EmailVerified bool      `json:"email_verified"`
	Status        string    `json:"status"`
	Roles         []string  `json:"roles"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Session is a login session. Login fills only ID and ExpiresAt.
type Session struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	IPAddress  string    `json:"ip_address"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

// Tokens are the credentials of a login or refresh. Login fills every
// field; Refresh fills AccessToken, RefreshToken, TokenType and ExpiresIn.
// They are secrets: LogValue shows none of them.
type Tokens struct {
	AccessToken  string        // short-lived JWT for Authorization: Bearer
	RefreshToken string        // one-time: each Refresh spends it and returns the next
	SessionToken string        // opaque session token, for clients that keep no cookie
	TokenType    string        // "Bearer"
	ExpiresIn    time.Duration // lifetime of AccessToken when issued
	Session      *Session      // the new session (Login only)
	User         *User         // the user (Login only)
}

// LogValue keeps the tokens out of logs.
func (t Tokens) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Duration("expires_in", t.ExpiresIn)}
	if t.User != nil {
		attrs = append(attrs, slog.String("user_id", t.User.ID))
	}
	if t.Session != nil {
		attrs = append(attrs, slog.String("session_id", t.Session.ID))
	}
	return slog.GroupValue(attrs...)
}

// tokensJSON is the wire form of login and refresh answers.
type tokensJSON struct {
	User         *User    `json:"user"`
	Session      *Session `json:"session"`
	SessionToken string   `json:"session_token"`
	AccessToken  string   `json:"access_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int64    `json:"expires_in"`
	RefreshToken string   `json:"refresh_token"`
	MFARequired  bool     `json:"mfa_required"`
	MFAToken     string   `json:"mfa_token"`
	Methods      []string `json:"methods"`
}

func (t tokensJSON) tokens() (*Tokens, error) {
	if t.MFARequired {
		return nil, &MFARequiredError{MFAToken: t.MFAToken, Methods: t.Methods}
	}
	if t.AccessToken == "" {
		return nil, errors.New("gatehouse: answer holds no access token")
	}
	return &Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, SessionToken: t.SessionToken,
		TokenType: t.TokenType, ExpiresIn: time.Duration(t.ExpiresIn) * time.Second, Session: t.Session, User: t.User}, nil
}

// Whoami is the caller as Gatehouse sees it now (not as the token says).
type Whoami struct {
	User        User     `json:"user"`
	Session     Session  `json:"session"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"` // from roles and direct grants
	AuthMethod  string   `json:"auth_method"` // "access_token", "session_token" or "cookie"
}

// SignupRequest is the body of a signup; empty optional fields are left
// out.
type SignupRequest struct {
	Email           string
	Password        string
	Name            string
	FirstName       string
	LastName        string
	InvitationToken string
}

// Signup registers a user. When the server requires email verification it
// answers the same for new and existing addresses, and Signup returns
// (nil, true, nil); otherwise it returns the new user.
func (c *Client) Signup(ctx context.Context, in SignupRequest) (user *User, verificationRequired bool, err error) {
	body := map[string]string{"email": in.Email, "password": in.Password}
	for k, v := range map[string]string{"name": in.Name, "first_name": in.FirstName, "last_name": in.LastName, "invitation_token": in.InvitationToken} {
		if v != "" {
			body[k] = v
		}
	}
	var out struct {
		User   *User  `json:"user"`
		Status string `json:"status"`
	}
	status, _, err := c.do(ctx, http.MethodPost, "/v1/auth/signup", "", body, &out)
	if err != nil {
		return nil, false, err
	}
	if status == http.StatusAccepted || out.Status == "verification_required" {
		return nil, true, nil
	}
	if out.User == nil {
		return nil, false, errors.New("gatehouse: signup answer holds no user")
	}
	return out.User, false, nil
}

// Login exchanges an email and password for tokens. Wrong credentials,
// unknown, locked and suspended accounts all give an *APIError with code
// invalid_credentials. For an account with MFA on it returns a
// *MFARequiredError (errors.Is(err, ErrMFARequired)).
func (c *Client) Login(ctx context.Context, email, password string) (*Tokens, error) {
	var out tokensJSON
	if _, _, err := c.do(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": password}, &out); err != nil {
		return nil, err
	}
	return out.tokens()
}

// LoginMFA completes a login that returned a *MFARequiredError, with a
// TOTP or recovery code.
func (c *Client) LoginMFA(ctx context.Context, mfaToken, code string) (*Tokens, error) {
	var out tokensJSON
	if _, _, err := c.do(ctx, http.MethodPost, "/v1/auth/login/mfa", "", map[string]string{"mfa_token": mfaToken, "code": code}, &out); err != nil {
		return nil, err
	}
	return out.tokens()
}

// Refresh spends refreshToken for a new access token and the next refresh
// token. Presenting a refresh token twice ends the whole session (an
// *APIError with code unauthenticated), so keep only the newest.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	var out tokensJSON
	if _, _, err := c.do(ctx, http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": refreshToken}, &out); err != nil {
		return nil, err
	}
	return out.tokens()
}

// Logout ends the session the token belongs to (an access token or a
// session token); its refresh tokens die with it, and verifiers polling
// revocations refuse its access tokens within their poll interval.
func (c *Client) Logout(ctx context.Context, accessToken string) error {
	_, _, err := c.do(ctx, http.MethodPost, "/v1/auth/logout", accessToken, nil, nil)
	return err
}

// Whoami asks the server who the token's user is, with their current roles
// and permissions. Unlike Verify it is a network call, and it fails for a
// session that has ended.
func (c *Client) Whoami(ctx context.Context, accessToken string) (*Whoami, error) {
	var out Whoami
	if _, _, err := c.do(ctx, http.MethodGet, "/v1/auth/whoami", accessToken, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Resource is what a permission check is about. Type is a lowercase word
// ("post"); ID and Attributes are optional and feed relation (ACL) grants
// and policy conditions.
type Resource struct {
	Type       string
	ID         string
	Attributes map[string]any
}

type resourceJSON struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Check asks POST /v1/authz/check whether the token's user may do action
// on res, as of now. It returns the decision and the server's reason. A
// denial is not an error; an error means no decision was made.
func (c *Client) Check(ctx context.Context, accessToken string, action string, res Resource) (allowed bool, reason string, err error) {
	in := struct {
		Action   string       `json:"action"`
		Resource resourceJSON `json:"resource"`
	}{action, resourceJSON(res)}
	var out struct {
		Allowed *bool  `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if _, _, err := c.do(ctx, http.MethodPost, "/v1/authz/check", accessToken, in, &out); err != nil {
		return false, "", err
	}
	if out.Allowed == nil {
		return false, "", errors.New("gatehouse: check answer holds no decision")
	}
	return *out.Allowed, out.Reason, nil
}

// do sends one JSON request to path under BaseURL; bearer, when set, goes
// in Authorization. A 2xx answer is decoded into out (when both exist);
// anything else becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path, bearer string, in, out any) (int, http.Header, error) {
	if c.err != nil {
		return 0, nil, c.err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("gatehouse: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.s.BaseURL+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("gatehouse: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return c.send(req, out)
}

// getJSON is do for the background GETs to an absolute URL.
func (c *Client) getJSON(ctx context.Context, url string, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	_, h, err := c.send(req, out)
	return h, err
}

func (c *Client) send(req *http.Request, out any) (int, http.Header, error) {
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", userAgent)
	res, err := c.s.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("gatehouse: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return res.StatusCode, res.Header, fmt.Errorf("gatehouse: %s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	if len(raw) > maxResponseBytes {
		return res.StatusCode, res.Header, fmt.Errorf("gatehouse: %s %s: answer larger than %d bytes", req.Method, req.URL.Path, maxResponseBytes)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, res.Header, parseProblem(res, raw)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, res.Header, fmt.Errorf("gatehouse: %s %s: decode answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return res.StatusCode, res.Header, nil
}

// parseProblem turns a failed answer into an *APIError, reading the
// problem document when there is one.
func parseProblem(res *http.Response, raw []byte) *APIError {
	e := &APIError{Status: res.StatusCode}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "application/problem+json" || mt == "application/json" {
		var p struct {
			Type   string       `json:"type"`
			Title  string       `json:"title"`
			Code   string       `json:"code"`
			Detail string       `json:"detail"`
			Errors []FieldError `json:"errors"`
		}
		if json.Unmarshal(raw, &p) == nil {
			e.Type, e.Title, e.Code, e.Detail, e.Errors = p.Type, p.Title, p.Code, p.Detail, p.Errors
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(res.StatusCode)
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}
