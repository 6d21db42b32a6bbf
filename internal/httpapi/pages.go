package httpapi

// The server-rendered pages (API.md "Web pages") live in this package so
// they share the server's cookie, CSRF guard, rate limits and service
// helpers with the JSON API: the guard middleware already refuses
// cross-origin unsafe requests (T8/T9), and each page handler calls the
// same helper its JSON twin calls (passwordLogin, register, openSession,
// endSession, requestByAddress, limitRedeem; emailflow for tokens). Pages work
// without JavaScript; a GET never changes state, so a link that carries a
// one-time token shows a form and only the POST redeems it (mail scanners
// prefetch links).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

//go:embed web
var webFS embed.FS

// pageCSP replaces the API's CSP on pages: styles and images from this
// origin only, forms post only here, no scripts, no framing.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const cssPath = "/assets/gatehouse.css"

// site is the page half of the server: the Server's plumbing (config,
// services, cookie, limits) plus the parsed templates and the stylesheet.
// pageTable builds one per Server.
type site struct {
	*Server
	tpl     map[string]*template.Template
	css     []byte
	cssETag string
	cssURL  string // with a version query so a changed file is refetched
}

// newSite parses the embedded templates; they are part of the binary, so
// a parse error is a programming error caught by every page test.
func newSite(s *Server) *site {
	layout := template.Must(template.New("layout.html").ParseFS(webFS, "web/layout.html"))
	ps := &site{Server: s, tpl: map[string]*template.Template{}}
	// Each content template is parsed into its own copy of the layout.
	for _, n := range []string{"message", "confirm", "email", "login", "signup", "reset", "account"} {
		t := template.Must(template.Must(layout.Clone()).ParseFS(webFS, "web/"+n+".html"))
		ps.tpl[n] = t
	}
	css, err := webFS.ReadFile("web/gatehouse.css")
	if err != nil {
		panic(err) // embedded at build time; cannot happen
	}
	sum := sha256.Sum256(css)
	v := hex.EncodeToString(sum[:8])
	ps.css, ps.cssETag, ps.cssURL = css, `"`+v+`"`, cssPath+"?v="+v
	return ps
}

// pageView is everything a page template reads. Values are escaped by
// html/template; passwords are never put back into a form.
type pageView struct {
	Product, Title, CSS string
	// Error is the form-level message; Fields holds per-field messages
	// keyed by input name.
	Error  string
	Fields map[string]string
	// Text and More are the paragraphs of message and confirm pages.
	Text, More string
	// Link and LinkText are a message page's way on.
	Link, LinkText string
	// Form state.
	Action, Button           string
	Email, Name              string
	Token, Invitation        string
	MinPassword, MaxPassword int
}

// pageFunc is a page handler; a returned error becomes the error page.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

// page adapts a page handler: HTML headers for every answer, and errors
// rendered as an HTML page through the same mapping as the API's.
func (s *site) page(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header())
		if err := h(w, r); err != nil {
			s.pageError(w, r, err)
		}
	})
}

// setPageHeaders overrides the API's headers for HTML: no caching of pages
// that may show account data or carry tokens, no referrer so a token in
// the URL never leaks (O7), the page CSP, and the isolation headers that
// only documents need (no opener across origins, no cross-origin
// embedding, no powerful features).
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
}

// product is the name pages show, the one the mails use.
func (s *site) product() string {
	if n := s.d.Config.Mail.ProductName; n != "" {
		return n
	}
	return "Gatehouse"
}

// view starts a pageView with the shared fields.
func (s *site) view(title string) pageView {
	minPw, maxPw := s.d.Config.Password.MinLength, s.d.Config.Password.MaxLength
	if minPw <= 0 {
		minPw = password.DefaultMinLength
	}
	if maxPw <= 0 {
		maxPw = password.DefaultMaxLength
	}
	return pageView{Product: s.product(), Title: title, CSS: s.cssURL, Fields: map[string]string{},
		MinPassword: minPw, MaxPassword: maxPw}
}

// render writes one page with status. It renders into a buffer first so a
// template failure is a clean 500, never half a page.
func (s *site) render(w http.ResponseWriter, r *http.Request, status int, name string, v pageView) {
	var buf bytes.Buffer
	if err := s.tpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>Something went wrong on our side.</p>\n"))
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a message page.
func (s *site) message(w http.ResponseWriter, r *http.Request, status int, title, text, link, linkText string) {
	v := s.view(title)
	v.Text, v.Link, v.LinkText = text, link, linkText
	s.render(w, r, status, "message", v)
}

// pageError renders err as an HTML page. Status, title and headers come
// from toProblem, the one place where errors become answers; 5xx causes
// are logged and never shown.
func (s *site) pageError(w http.ResponseWriter, r *http.Request, err error) {
	p, h := toProblem(err)
	if p.Status >= 500 && !errors.Is(err, context.Canceled) {
		s.log.ErrorContext(r.Context(), "request failed", "err", err)
	}
	for _, k := range []string{"Retry-After", "Allow"} {
		if v := h.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	text := p.Detail
	if p.Status >= 500 {
		text = "Something went wrong on our side. Please try again in a moment."
	}
	s.message(w, r, p.Status, p.Title, text, "/login", "Back to sign in")
}

// invalidLink is the one answer for a one-time token that is unknown,
// expired or spent: nothing tells which.
func (s *site) invalidLink(w http.ResponseWriter, r *http.Request, again, againText string) {
	s.message(w, r, http.StatusBadRequest, "Link invalid or expired",
		"This link is invalid or has expired. Each link works once and only for a limited time.", again, againText)
}

// parseForm reads a urlencoded body within the server's body limit. A
// malformed body is a 400, an oversized one a 413.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return &decodeError{msg: "the form could not be read"}
	}
	return nil
}

// formEmail reads the address of a request-by-address form.
func formEmail(r *http.Request) (string, error) {
	if err := parseForm(r); err != nil {
		return "", err
	}
	return r.PostFormValue("email"), nil
}

// fieldMessages turns validation errors into per-input messages. rename
// maps service field names to input names (new_password -> password);
// errors about fields the form does not show go to the form-level text.
func fieldMessages(verr validation.Errors, inputs []string, rename map[string]string) (fields map[string]string, general string) {
	fields = map[string]string{}
	shown := map[string]bool{}
	for _, in := range inputs {
		shown[in] = true
	}
	var rest []string
	for _, fe := range verr {
		name := fe.Field
		if to, ok := rename[name]; ok {
			name = to
		}
		msg := sentence(fieldLabel(name), fe.Message)
		switch {
		case !shown[name]:
			rest = append(rest, msg)
		case fields[name] == "":
			fields[name] = msg
		}
	}
	return fields, strings.Join(rest, " ")
}

func fieldLabel(field string) string {
	switch field {
	case "email":
		return "Email address"
	case "password":
		return "Password"
	case "name":
		return "Name"
	}
	return strings.ReplaceAll(field, "_", " ")
}

// sentence makes a validation message readable on its own: "is required"
// becomes "Email address is required"; messages that already name their
// subject ("password must be ...") are capitalised.
func sentence(label, msg string) string {
	if strings.HasPrefix(msg, "is ") || strings.HasPrefix(msg, "must ") {
		msg = label + " " + msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// pageSession returns the principal of the request's session cookie. Pages
// are for browsers, so only the cookie counts (L16, T5). ok is false when
// there is no live session; a store failure is an error (fail closed,
// S13).
func (s *site) pageSession(r *http.Request) (p session.Principal, hadCookie, ok bool, err error) {
	c, cerr := r.Cookie(s.cookieName)
	if cerr != nil || c.Value == "" {
		return session.Principal{}, false, false, nil
	}
	p, err = s.d.Sessions.Authenticate(r.Context(), c.Value)
	if errors.Is(err, session.ErrInvalid) {
		return session.Principal{}, true, false, nil
	}
	if err != nil {
		return session.Principal{}, true, false, err
	}
	return p, true, true, nil
}

// redirect answers 303 See Other: after a POST the browser follows with a
// GET, so reloading the next page never resubmits the form.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// handleCSS serves the one stylesheet. Pages link it with a version query,
// so it may be cached; the ETag answers revalidations.
func (s *site) handleCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("ETag", s.cssETag)
	http.ServeContent(w, r, "gatehouse.css", time.Time{}, bytes.NewReader(s.css))
}
