package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
)

// The kinds of mail Gatehouse sends; Data.Kind is one of them.
const (
	KindVerifyEmail    = "verify_email"    // "Verify your email address" with Link, expires in …
	KindResetPassword  = "reset_password"  // "Reset your password" with Link; says to ignore if not requested
	KindMagicLink      = "magic_link"      // "Your sign-in link" with Link
	KindInvitation     = "invitation"      // "You're invited to <product>" with Link and roles
	KindNewDevice      = "new_device"      // "New sign-in to your account" with IP, UserAgent, Time
	KindAccountLocked  = "account_locked"  // "Your account was locked" after repeated failed logins, until when
	KindSignupExisting = "signup_existing" // "Someone tried to sign up with your address"
)

// linkKinds need a one-time link; Render refuses them without one.
var linkKinds = map[string]bool{
	KindVerifyEmail: true, KindResetPassword: true, KindMagicLink: true, KindInvitation: true,
}

// Kinds lists every kind Render knows, in a stable order.
func Kinds() []string {
	return []string{
		KindVerifyEmail, KindResetPassword, KindMagicLink, KindInvitation,
		KindNewDevice, KindAccountLocked, KindSignupExisting,
	}
}

// ErrUnknownKind is returned by Render for a kind it has no template for.
var ErrUnknownKind = errors.New("mail: unknown template kind")

//go:embed templates/*
var templateFS embed.FS

// Data is what one mail is about. Strings from users (Name, UserAgent,
// Inviter, Roles) are reduced to one line of printable text and escaped
// in the HTML part, so they cannot forge a link line or markup.
type Data struct {
	Kind string // one of the Kind constants
	To   string // recipient address
	Name string // recipient display name, may be empty

	// Link is the one-time link (absolute http or https URL) for
	// verify_email, reset_password, magic_link and invitation, where it is
	// required. For new_device, account_locked and signup_existing it is
	// optional: when set it should point at the page where a password
	// reset can be requested, and the mail offers it.
	Link string

	// ExpiresIn is how long Link stays valid (said as "24 hours"); for
	// account_locked without Time, how long the lock lasts. Zero omits it.
	ExpiresIn time.Duration

	IP, UserAgent string    // new_device: where the sign-in came from
	Time          time.Time // new_device: when; account_locked: when the lock ends. Shown in UTC
	Roles         []string  // invitation: roles the invitee will have
	Inviter       string    // invitation: inviter's email, may be empty
}

// Templates renders every Gatehouse mail as a plain-text part (text/
// template: links stay byte-exact) and an HTML part (html/template:
// everything escaped). The templates are embedded and parsed once; a
// Templates is safe for concurrent use.
type Templates struct {
	product string
	kinds   map[string]kindTemplates
}

type kindTemplates struct {
	text *texttemplate.Template // defines "subject" and "text"
	html *htmltemplate.Template // defines "html"
}

// button is the argument of the HTML "button" template.
type button struct{ Link, Label string }

// NewTemplates parses the embedded templates for every kind. productName
// (for example "Gatehouse") appears in every subject and body.
func NewTemplates(productName string) (*Templates, error) {
	product := oneLine(productName, 100)
	if product == "" {
		return nil, errors.New("mail: product name is empty")
	}
	t := &Templates{product: product, kinds: make(map[string]kindTemplates)}
	funcs := htmltemplate.FuncMap{"button": func(link, label string) button { return button{link, label} }}
	for _, kind := range Kinds() {
		tt, err := texttemplate.New(kind).ParseFS(templateFS, "templates/layout.txt", "templates/"+kind+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail: parse %s text template: %w", kind, err)
		}
		ht, err := htmltemplate.New(kind).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+kind+".html")
		if err != nil {
			return nil, fmt.Errorf("mail: parse %s html template: %w", kind, err)
		}
		for _, name := range []string{"subject", "text", "content"} {
			if tt.Lookup(name) == nil {
				return nil, fmt.Errorf("mail: %s text template defines no %q", kind, name)
			}
		}
		if ht.Lookup("html") == nil || ht.Lookup("content") == nil {
			return nil, fmt.Errorf("mail: %s html template defines no \"html\" or \"content\"", kind)
		}
		t.kinds[kind] = kindTemplates{text: tt, html: ht}
	}
	return t, nil
}

// view is what the templates see: Data made safe and formatted.
type view struct {
	Product, Subject string
	To, Name, Link   string
	ExpiresIn        string // "24 hours"; empty when unknown
	IP, UserAgent    string
	Time, Until      string // formatted in UTC; Until only for account_locked
	Roles            []string
	RoleList         string // "admin, editor"
	Inviter          string
}

// Render builds the mail for d: subject (with the product name), a text
// part where the link, if any, stands on a line of its own, and an HTML
// part where it is an <a href>. It fails for an unknown kind
// (ErrUnknownKind), a missing or malformed recipient, or a missing link
// where the kind needs one.
func (t *Templates) Render(d Data) (Message, error) {
	kt, ok := t.kinds[d.Kind]
	if !ok {
		return Message{}, fmt.Errorf("%w %q", ErrUnknownKind, d.Kind)
	}
	if _, err := netmail.ParseAddress(d.To); err != nil {
		return Message{}, fmt.Errorf("mail: render %s: recipient %q is not an address", d.Kind, d.To)
	}
	if d.Link == "" && linkKinds[d.Kind] {
		return Message{}, fmt.Errorf("mail: render %s: a link is required", d.Kind)
	}
	if d.Link != "" {
		if err := checkLink(d.Link); err != nil {
			return Message{}, fmt.Errorf("mail: render %s: %w", d.Kind, err)
		}
	}

	v := view{
		Product:   t.product,
		To:        d.To,
		Name:      oneLine(d.Name, 100),
		Link:      d.Link,
		ExpiresIn: humanDuration(d.ExpiresIn),
		IP:        oneLine(d.IP, 64),
		UserAgent: oneLine(d.UserAgent, 200),
		Inviter:   oneLine(d.Inviter, 254),
	}
	if !d.Time.IsZero() {
		formatted := d.Time.UTC().Format("Mon, 2 Jan 2006 15:04 MST")
		if d.Kind == KindAccountLocked {
			v.Until = formatted
		} else {
			v.Time = formatted
		}
	}
	for _, r := range d.Roles {
		if r = oneLine(r, 64); r != "" {
			v.Roles = append(v.Roles, r)
		}
	}
	v.RoleList = strings.Join(v.Roles, ", ")

	var subject, text, html bytes.Buffer
	if err := kt.text.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s subject: %w", d.Kind, err)
	}
	v.Subject = oneLine(subject.String(), 200)
	if err := kt.text.ExecuteTemplate(&text, "text", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s text: %w", d.Kind, err)
	}
	if err := kt.html.ExecuteTemplate(&html, "html", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s html: %w", d.Kind, err)
	}
	return Message{
		To:      d.To,
		Subject: v.Subject,
		Text:    tidyText(text.String()),
		HTML:    html.String(),
		Kind:    d.Kind,
	}, nil
}

// checkLink accepts an absolute http(s) URL without whitespace, so it
// survives on a line of its own and cannot become a javascript: href.
func checkLink(link string) error {
	if strings.IndexFunc(link, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("link contains whitespace")
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("link is not an absolute http(s) URL")
	}
	return nil
}

// oneLine turns control characters (line breaks included) and Unicode
// line separators into spaces, squeezes runs of spaces, trims, and cuts
// to limit runes with an ellipsis.
func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidyText trims trailing spaces from every line, keeps at most one blank
// line in a row, and ends the text with one newline.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	s = blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.Trim(s, "\n") + "\n"
}

// humanDuration says d in days, hours and minutes ("1 day and 12 hours",
// "15 minutes"), rounded to the minute; "" for d <= 0.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = max(d.Round(time.Minute), time.Minute)
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 {
			d -= n * u.size
			p := fmt.Sprintf("%d %s", n, u.name)
			if n > 1 {
				p += "s"
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
