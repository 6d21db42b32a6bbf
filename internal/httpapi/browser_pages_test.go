package httpapi_test

// Browser tests: the pages driven in a real headless Chromium, following
// the links from the dev outbox as a user would. They need Debian's
// chromium; without it they skip locally and fail in CI
// (GATEHOUSE_TEST_REQUIRE_SERVICES=1).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// chromiumPath finds the browser, skipping the test when it is missing
// unless services are required.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv(pgtest.EnvRequire) == "1" {
		t.Fatalf("chromium is not installed but %s=1: the browser tests must run (apt-get install chromium)", pgtest.EnvRequire)
	}
	t.Skip("browser tests skipped: chromium is not installed (apt-get install chromium)")
	return ""
}

// browserTimeout bounds each browser test.
const browserTimeout = 30 * time.Second

// browser is one headless Chromium with a fresh profile and one tab.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab, with the test's deadline
}

// newBrowser starts Chromium for one test; it is stopped and its profile
// removed when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	profile := t.TempDir() // removed after the browser stops (cleanups run last-in first-out)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("password-store", "basic"),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelBrowser()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry the deadline,
	// which would stop the whole browser (see chromedp.Run).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, browserTimeout)
	t.Cleanup(cancel)
	return &browser{t: t, ctx: ctx}
}

// do runs actions, failing the test on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to url and waits for the page.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
}

// submit runs the steps (typically a click) and waits for the page they
// load, returning its HTTP status.
func (b *browser) submit(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	res, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return res.Status
}

// click clicks the element and waits for the page it loads.
func (b *browser) click(sel string) int64 {
	b.t.Helper()
	return b.submit("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into the input with the id.
func (b *browser) typeInto(id, text string) {
	b.t.Helper()
	b.do("type into #"+id, chromedp.SendKeys(chromedp.ID(id), text))
}

// text is the visible text of the page body.
func (b *browser) text() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		b.t.Fatalf("read page text: %v", err)
	}
	return s
}

// expectText fails unless the page shows every want.
func (b *browser) expectText(what string, want ...string) {
	b.t.Helper()
	got := b.text()
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.t.Fatalf("%s: page does not show %q:\n%s", what, w, got)
		}
	}
}

// location is the URL of the page shown.
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return loc
}

// eval evaluates a JavaScript expression through DevTools (the pages'
// CSP forbids page scripts, not the debugger).
func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.EvaluateAsDevTools[string](expr))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// expectAccount checks that the browser is on the account page of email,
// styled by the stylesheet, and that scripts cannot read the session
// cookie (C1, L16).
func (b *browser) expectAccount(base, email string) {
	b.t.Helper()
	if loc := b.location(); loc != base+"/account" {
		b.t.Fatalf("landed on %s, want %s/account", loc, base)
	}
	b.expectText("account page", "Signed in as "+email)
	if c := b.eval(`document.cookie`); c != "" {
		b.t.Fatalf("the session cookie is readable by scripts: %q", c)
	}
	// The CSP lets the page's own stylesheet in.
	if w := b.eval(`getComputedStyle(document.querySelector("main.card")).maxWidth`); w != "384px" {
		b.t.Fatalf("stylesheet not applied: max-width %q", w)
	}
}

func browserEnv(t *testing.T, mutate func(*config.Config)) *env {
	t.Helper()
	return newEnvWith(t, onSQLite, envOptions{realPublicURL: true, mutate: mutate})
}

// (a) Sign up, follow the verification link, confirm, sign in.
func TestBrowserSignupAndVerifyEmail(t *testing.T) {
	b := newBrowser(t)
	e := browserEnv(t, func(c *config.Config) { c.RequireEmailVerification = true })

	b.open(e.url + "/signup")
	b.typeInto("email", "alice@test.com")
	b.typeInto("name", "Alice")
	b.typeInto("password", goodPassword)
	if st := b.click(`button[type="submit"]`); st != 200 {
		t.Fatalf("signup: status %d", st)
	}
	b.expectText("after signup", "Check your email", "alice@test.com")

	link := e.waitMailTo("alice@test.com", 1).link(t, e.url+"/verify-email?token=")
	b.open(link.String())
	b.expectText("verification link", "Confirm that this email address is yours.")
	if st := b.click(`button[type="submit"]`); st != 200 {
		t.Fatalf("verify: status %d", st)
	}
	b.expectText("after verify", "Your email address is verified")

	b.click(`a[href="/login"]`)
	b.typeInto("email", "alice@test.com")
	b.typeInto("password", goodPassword)
	b.click(`button[type="submit"]`)
	b.expectAccount(e.url, "alice@test.com")
}

// (b) Forgot password: request a link, choose a new password, sign in
// with it.
func TestBrowserForgotPassword(t *testing.T) {
	b := newBrowser(t)
	e := browserEnv(t, nil)
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1) // verification

	b.open(e.url + "/login")
	b.click(`a[href="/reset-password"]`)
	b.typeInto("email", "alice@test.com")
	if st := b.click(`button[type="submit"]`); st != 200 {
		t.Fatalf("reset request: status %d", st)
	}
	b.expectText("after the request", "If the address belongs to an account, a message is on its way.")

	link := e.waitMailTo("alice@test.com", 2).link(t, e.url+"/reset-password?token=")
	b.open(link.String())
	const next = "a brand new passphrase"
	b.typeInto("password", next)
	b.typeInto("password_confirm", next)
	if st := b.click(`button[type="submit"]`); st != 200 {
		t.Fatalf("reset: status %d", st)
	}
	b.expectText("after the reset", "Your password has been changed")

	b.click(`a[href="/login"]`)
	b.typeInto("email", "alice@test.com")
	b.typeInto("password", goodPassword)
	if st := b.click(`button[type="submit"]`); st != 401 {
		t.Fatalf("old password: status %d", st)
	}
	b.expectText("old password", "Email or password is incorrect.")
	// The form keeps the address; type only the new password.
	b.typeInto("password", next)
	b.click(`button[type="submit"]`)
	b.expectAccount(e.url, "alice@test.com")
}

// (c) Magic link requested through the API, followed in the browser;
// then sign out.
func TestBrowserMagicLink(t *testing.T) {
	b := newBrowser(t)
	e := browserEnv(t, nil)
	e.signup("alice@test.com")
	e.waitMailTo("alice@test.com", 1)
	expect(t, e.req("POST", "/v1/auth/magic-link/request", map[string]any{"email": "alice@test.com"}), 202, "magic link request")
	link := e.waitMailTo("alice@test.com", 2).link(t, e.url+"/magic-link?token=")

	b.open(link.String())
	b.expectText("magic link page", "Sign me in")
	b.click(`button[type="submit"]`)
	b.expectAccount(e.url, "alice@test.com")

	b.click(`form[action="/logout"] button`)
	if loc := b.location(); loc != e.url+"/login" {
		t.Fatalf("after sign-out: %s", loc)
	}
	b.open(e.url + "/account")
	if loc := b.location(); loc != e.url+"/login" {
		t.Fatalf("account after sign-out: %s", loc)
	}
	// The link is spent.
	b.open(link.String())
	if st := b.click(`button[type="submit"]`); st != 400 {
		t.Fatalf("second use: status %d", st)
	}
	b.expectText("second use", "This link is invalid or has expired")
}

// (d) A page on another origin submits forms to Gatehouse: a logout and a
// login CSRF. The other origin is 127.0.0.1 on another port, the same
// site, so the SameSite=Lax cookie rides along and only the
// cross-origin check stands in the way.
func TestBrowserCrossOriginFormRefused(t *testing.T) {
	b := newBrowser(t)
	e := browserEnv(t, nil)
	e.signup("alice@test.com")
	e.signup("mallory@test.com")

	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var form string
		switch r.URL.Path {
		case "/logout":
			form = fmt.Sprintf(`<form method="post" action="%s/logout"></form>`, e.url)
		case "/login":
			form = fmt.Sprintf(`<form method="post" action="%s/login"><input name="email" value="mallory@test.com"><input name="password" value="%s"></form>`, e.url, goodPassword)
		default:
			http.NotFound(w, r)
			return
		}
		// Submits itself as soon as it loads, as a CSRF page would.
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>%s<script>document.forms[0].submit()</script>`, form)
	}))
	t.Cleanup(attacker.Close)

	// Alice signs in.
	b.open(e.url + "/login")
	b.typeInto("email", "alice@test.com")
	b.typeInto("password", goodPassword)
	b.click(`button[type="submit"]`)
	b.expectAccount(e.url, "alice@test.com")

	for _, attack := range []string{"/logout", "/login"} {
		// Opening the page submits the form; the navigation may be cut
		// short by the submission, so wait for where the tab ends up.
		_ = chromedp.Do(b.ctx, chromedp.Navigate(attacker.URL+attack))
		b.eventually("forged "+attack+" refused", func(loc, text string) bool {
			return strings.HasPrefix(loc, e.url) && strings.Contains(text, "Cross-origin request refused")
		})
		// Alice is still signed in, as herself.
		b.open(e.url + "/account")
		b.expectAccount(e.url, "alice@test.com")
	}
}

// eventually polls the tab's location and text until ok holds. Errors
// while a navigation is under way are retried.
func (b *browser) eventually(what string, ok func(loc, text string) bool) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var loc, text string
	for {
		l, err1 := chromedp.Run(b.ctx, chromedp.Location())
		t, err2 := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		if err1 == nil && err2 == nil {
			loc, text = l, t
			if ok(loc, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: never happened; at %s showing:\n%s", what, loc, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
