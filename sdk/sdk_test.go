package gatehouse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	gatehouse "github.com/gatehouse-auth/gatehouse/sdk"
)

const goodPassword = "correct horse battery staple"

// server is one real Gatehouse behind httptest, counting the requests it
// gets.
type server struct {
	url  string
	g    *app.Gatehouse
	hits atomic.Int64 // every request except the revocation polls
	jwks atomic.Int64 // GET /.well-known/jwks.json
}

// startServer runs Gatehouse in-process on SQLite with cheap hashing and
// no rate limits; its public URL (the token issuer) is its real address.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	s.url, s.g = apptest.Serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/revocations":
			case "/.well-known/jwks.json":
				s.jwks.Add(1)
				s.hits.Add(1)
			default:
				s.hits.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	return s
}

// raw sends one JSON request and returns the status and body.
func (s *server) raw(t *testing.T, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func quietConfig(base string) gatehouse.Config {
	return gatehouse.Config{BaseURL: base, RevocationPoll: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

// serve runs h once with the bearer token (none when empty).
func serve(h http.Handler, bearer string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/posts/1?id=1", nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantProblem checks a middleware answer.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
		Title  string `json:"title"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code != code || p.Status != status || p.Title == "" {
		t.Fatalf("problem %s, want code %q", w.Body, code)
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := gatehouse.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", 500)
		return
	}
	_, _ = io.WriteString(w, c.Subject)
})

func TestAgainstRealServer(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	cl := gatehouse.NewClient(gatehouse.Config{BaseURL: s.url})

	user, pending, err := cl.Signup(ctx, gatehouse.SignupRequest{Email: "alice@example.com", Password: goodPassword, Name: "Alice"})
	if err != nil || pending || user == nil || user.Email != "alice@example.com" || !slices.Contains(user.Roles, "viewer") {
		t.Fatalf("signup: %+v %v %v", user, pending, err)
	}
	tok, err := cl.Login(ctx, "alice@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.SessionToken == "" || tok.TokenType != "Bearer" ||
		tok.ExpiresIn < 14*time.Minute || tok.User == nil || tok.User.ID != user.ID || tok.Session == nil || tok.Session.ID == "" {
		t.Fatalf("login tokens: %+v", tok)
	}

	v, err := gatehouse.NewVerifier(ctx, quietConfig(s.url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)

	t.Run("wrong password is an APIError", func(t *testing.T) {
		_, err := cl.Login(ctx, "alice@example.com", "not the password at all")
		var ae *gatehouse.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "invalid_credentials" || ae.Title == "" {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("verify is offline", func(t *testing.T) {
		before := s.hits.Load()
		var c *gatehouse.Claims
		for range 200 {
			if c, err = v.Verify(ctx, tok.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.hits.Load() - before; n != 0 {
			t.Fatalf("Verify made %d requests", n)
		}
		if c.Subject != user.ID || c.SessionID != tok.Session.ID || c.ID == "" || !slices.Contains(c.Roles, "viewer") ||
			!slices.Contains(c.AMR, "pwd") || c.Raw != tok.AccessToken || time.Until(c.ExpiresAt) < 14*time.Minute ||
			time.Since(c.IssuedAt) > time.Minute {
			t.Fatalf("claims %+v", c)
		}
	})

	t.Run("rejects", func(t *testing.T) {
		other := startServer(t)
		ocl := gatehouse.NewClient(gatehouse.Config{BaseURL: other.url})
		if _, _, err := ocl.Signup(ctx, gatehouse.SignupRequest{Email: "mallory@example.com", Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
		otok, err := ocl.Login(ctx, "mallory@example.com", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok.AccessToken, ".")
		payload := []byte(parts[1])
		payload[5] ^= 1
		tampered := parts[0] + "." + string(payload) + "." + parts[2]
		swappedSig := parts[0] + "." + parts[1] + "." + strings.Split(otok.AccessToken, ".")[2]

		jwksBefore := s.jwks.Load()
		for name, bad := range map[string]string{
			"garbage": "garbage", "dots": "a.b.c", "empty": "", "tampered": tampered,
			"other signature": swappedSig, "other issuer": otok.AccessToken,
			"session token": tok.SessionToken, "refresh token": tok.RefreshToken,
		} {
			if _, err := v.Verify(ctx, bad); !errors.Is(err, gatehouse.ErrInvalidToken) {
				t.Errorf("%s: got %v, want ErrInvalidToken", name, err)
			}
		}
		// The other server's kid is unknown here: one JWKS fetch at most,
		// then none for 10 s however many such tokens arrive.
		if n := s.jwks.Load() - jwksBefore; n > 1 {
			t.Errorf("%d JWKS fetches for unknown kids, want at most 1", n)
		}

		// Same issuer, another audience.
		cfg := quietConfig(s.url)
		cfg.Audience = "https://api.other.example"
		cfg.RevocationPoll = -1
		va, err := gatehouse.NewVerifier(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer va.Close()
		if _, err := va.Verify(ctx, tok.AccessToken); !errors.Is(err, gatehouse.ErrInvalidToken) {
			t.Errorf("other audience: got %v", err)
		}
		// The other server's token checked by a verifier of the other
		// server, but claiming our issuer, cannot exist; the reverse
		// check: our verifier pointed at the other server's keys.
		vo, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: other.url, RevocationPoll: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer vo.Close()
		if _, err := vo.Verify(ctx, otok.AccessToken); err != nil {
			t.Errorf("other server's own verifier: %v", err)
		}
		if _, err := vo.Verify(ctx, tok.AccessToken); !errors.Is(err, gatehouse.ErrInvalidToken) {
			t.Errorf("token of another issuer: got %v", err)
		}
	})

	t.Run("authenticate middleware", func(t *testing.T) {
		h := v.Authenticate(okHandler)
		w := serve(h, "")
		wantProblem(t, w, 401, "unauthenticated")
		if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("no token: WWW-Authenticate %q", got)
		}
		w = serve(h, "not-a-jwt")
		wantProblem(t, w, 401, "unauthenticated")
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("bad token: WWW-Authenticate %q", got)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic YWxpY2U6cHc=")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		wantProblem(t, w, 401, "unauthenticated")
		w = serve(h, tok.AccessToken)
		if w.Code != 200 || w.Body.String() != user.ID {
			t.Fatalf("good token: %d %s", w.Code, w.Body)
		}
	})

	t.Run("whoami and check", func(t *testing.T) {
		me, err := cl.Whoami(ctx, tok.AccessToken)
		if err != nil || me.User.ID != user.ID || me.Session.ID != tok.Session.ID || !slices.Contains(me.Permissions, "posts.read") || me.AuthMethod != "access_token" {
			t.Fatalf("whoami %+v %v", me, err)
		}
		ok, reason, err := cl.Check(ctx, tok.AccessToken, "posts.read", gatehouse.Resource{Type: "post", ID: "1"})
		if err != nil || !ok || reason == "" {
			t.Fatalf("check posts.read: %v %q %v", ok, reason, err)
		}
		ok, _, err = cl.Check(ctx, tok.AccessToken, "posts.delete", gatehouse.Resource{Type: "post"})
		if err != nil || ok {
			t.Fatalf("check posts.delete: %v %v", ok, err)
		}
		_, _, err = cl.Check(ctx, "", "posts.read", gatehouse.Resource{Type: "post"})
		var ae *gatehouse.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" {
			t.Fatalf("check without token: %v", err)
		}
	})

	t.Run("require permission follows role changes at once", func(t *testing.T) {
		post := func(r *http.Request) gatehouse.Resource { return gatehouse.Resource{Type: "post", ID: "1"} }
		update := v.Authenticate(v.RequirePermission("posts.update", post)(okHandler))
		read := v.Authenticate(v.RequirePermission("posts.read", nil)(okHandler))

		wantProblem(t, serve(update, tok.AccessToken), 403, "forbidden")
		if w := serve(read, tok.AccessToken); w.Code != 200 || w.Body.String() != user.ID {
			t.Fatalf("posts.read: %d %s", w.Code, w.Body)
		}
		wantProblem(t, serve(update, ""), 401, "unauthenticated")

		if _, err := s.g.Identity.Bootstrap(ctx, identity.NewUserInput{
			SignupInput: identity.SignupInput{Email: "admin@example.com", Password: goodPassword},
			Roles:       []string{"admin"}, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		admin, err := cl.Login(ctx, "admin@example.com", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if st, body := s.raw(t, "PUT", "/v1/admin/users/"+user.ID+"/roles", admin.AccessToken, map[string]any{"roles": []string{"editor"}}); st != 200 {
			t.Fatalf("set roles: %d %s", st, body)
		}
		// The same token (still saying "viewer") is allowed now.
		if w := serve(update, tok.AccessToken); w.Code != 200 {
			t.Fatalf("posts.update after promotion: %d %s", w.Code, w.Body)
		}
		if st, body := s.raw(t, "PUT", "/v1/admin/users/"+user.ID+"/roles", admin.AccessToken, map[string]any{"roles": []string{"viewer"}}); st != 200 {
			t.Fatalf("set roles back: %d %s", st, body)
		}
		wantProblem(t, serve(update, tok.AccessToken), 403, "forbidden")
	})

	t.Run("require permission fails closed", func(t *testing.T) {
		cfg := quietConfig(s.url)
		cfg.RevocationPoll = -1
		cfg.HTTPClient = &http.Client{Transport: failCheck{}}
		vf, err := gatehouse.NewVerifier(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer vf.Close()
		h := vf.Authenticate(vf.RequirePermission("posts.read", nil)(okHandler))
		wantProblem(t, serve(h, tok.AccessToken), 503, "unavailable")
	})

	t.Run("refresh", func(t *testing.T) {
		next, err := cl.Refresh(ctx, tok.RefreshToken)
		if err != nil || next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.ExpiresIn <= 0 {
			t.Fatalf("refresh: %+v %v", next, err)
		}
		c, err := v.Verify(ctx, next.AccessToken)
		if err != nil || c.SessionID != tok.Session.ID {
			t.Fatalf("refreshed token: %+v %v", c, err)
		}
		tok.RefreshToken = next.RefreshToken
		// A spent refresh token is refused (and ends the session, so this
		// runs on a second login).
		second, err := cl.Login(ctx, "alice@example.com", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Refresh(ctx, second.RefreshToken); err != nil {
			t.Fatal(err)
		}
		_, err = cl.Refresh(ctx, second.RefreshToken)
		var ae *gatehouse.APIError
		if !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("spent refresh token: %v", err)
		}
	})

	t.Run("logout reaches the verifier through the revocation feed", func(t *testing.T) {
		if st, _ := s.raw(t, "GET", "/v1/revocations", "", nil); st == http.StatusNotFound {
			t.Skip("revocations endpoint not available")
		}
		if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		h := v.Authenticate(okHandler)
		start := time.Now()
		if err := cl.Logout(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := v.Verify(ctx, tok.AccessToken)
			if errors.Is(err, gatehouse.ErrRevoked) {
				if !errors.Is(err, gatehouse.ErrInvalidToken) {
					t.Fatal("ErrRevoked does not wrap ErrInvalidToken")
				}
				break
			}
			if err != nil {
				t.Fatalf("Verify after logout: %v", err)
			}
			if time.Since(start) > 1500*time.Millisecond {
				t.Fatal("the verifier did not learn of the logout within 1.5 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("logout seen by the verifier after %v", time.Since(start).Round(time.Millisecond))
		w := serve(h, tok.AccessToken)
		wantProblem(t, w, 401, "unauthenticated")
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("revoked token: WWW-Authenticate %q", got)
		}
		// A fresh verifier learns of it from its first, synchronous read.
		v2, err := gatehouse.NewVerifier(ctx, quietConfig(s.url))
		if err != nil {
			t.Fatal(err)
		}
		defer v2.Close()
		if _, err := v2.Verify(ctx, tok.AccessToken); !errors.Is(err, gatehouse.ErrRevoked) {
			t.Fatalf("new verifier: got %v, want ErrRevoked", err)
		}
		var ae *gatehouse.APIError
		if _, err := cl.Whoami(ctx, tok.AccessToken); !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("whoami after logout: %v", err)
		}
	})
}

// failCheck is a transport on which the check API is unreachable.
type failCheck struct{}

func (failCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/authz/check" {
		return nil, errors.New("connection refused (test)")
	}
	return http.DefaultTransport.RoundTrip(r)
}
