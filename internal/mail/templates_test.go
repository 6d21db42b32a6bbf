package mail

import (
	"errors"
	"html"
	"strings"
	"testing"
	"time"
)

func TestTemplatesRenderEveryKind(t *testing.T) {
	tpl, err := NewTemplates("Acme Auth")
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://auth.example.com"
	locked := time.Date(2026, 11, 24, 21, 35, 0, 0, time.UTC)
	tests := []struct {
		data    Data
		subject string   // in the subject
		text    []string // in the text part
		html    []string // in the HTML part
	}{
		{
			data:    Data{Kind: KindVerifyEmail, Link: base + "/verify-email?token=T1", ExpiresIn: 24 * time.Hour},
			subject: "Verify your email address", text: []string{"expires in 1 day"},
		},
		{
			data:    Data{Kind: KindResetPassword, Link: base + "/reset-password?token=T2", ExpiresIn: time.Hour},
			subject: "Reset your password", text: []string{"expires in 1 hour", "If you did not ask for this, ignore this email"},
		},
		{
			data:    Data{Kind: KindMagicLink, Link: base + "/magic-link?token=T3", ExpiresIn: 15 * time.Minute},
			subject: "Your sign-in link", text: []string{"15 minutes"},
		},
		{
			data:    Data{Kind: KindInvitation, Link: base + "/signup?invitation=T4", Roles: []string{"admin", "editor"}, Inviter: "carol@example.com", ExpiresIn: 7 * 24 * time.Hour},
			subject: "You're invited to Acme Auth", text: []string{"carol@example.com has invited you", "roles admin, editor", "7 days"},
			html: []string{"<strong>admin, editor</strong>"},
		},
		{
			data:    Data{Kind: KindNewDevice, IP: "203.0.113.7", UserAgent: "Firefox on Linux", Time: locked},
			subject: "New sign-in to your account",
			text:    []string{"203.0.113.7", "Firefox on Linux", "Tue, 24 Nov 2026 21:35 UTC", "reset your password"},
			html:    []string{"203.0.113.7", "Firefox on Linux"},
		},
		{
			data:    Data{Kind: KindAccountLocked, Time: locked, Link: base + "/forgot-password"},
			subject: "Your account was locked", text: []string{"repeated failed sign-in attempts", "until Tue, 24 Nov 2026 21:35 UTC", "reset your password"},
		},
		{
			data:    Data{Kind: KindAccountLocked, ExpiresIn: 15 * time.Minute},
			subject: "Your account was locked", text: []string{"for the next 15 minutes", "Forgot password"},
		},
		{
			data:    Data{Kind: KindSignupExisting},
			subject: "Someone tried to sign up with your address", text: []string{"already has an account", "reset it"},
		},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		d := tc.data
		d.To, d.Name = "dave@example.com", "Dave"
		t.Run(d.Kind, func(t *testing.T) {
			seen[d.Kind] = true
			m, err := tpl.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			if m.To != d.To || m.Kind != d.Kind || m.Text == "" || m.HTML == "" {
				t.Fatalf("incomplete message %+v", m)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Subject, tc.subject) || !strings.Contains(m.Subject, "Acme Auth") {
				t.Errorf("subject %q lacks %q or the product", m.Subject, tc.subject)
			}
			for _, want := range append(tc.text, "Hello Dave,", "Acme Auth", "dave@example.com") {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range append(tc.html, "Hello Dave,", "Acme Auth", "<!DOCTYPE html>") {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("html lacks %q:\n%s", want, m.HTML)
				}
			}
			if d.Link != "" {
				if !hasLine(m.Text, d.Link) {
					t.Errorf("text has no line %q:\n%s", d.Link, m.Text)
				}
				if !strings.Contains(m.HTML, `href="`+html.EscapeString(d.Link)+`"`) {
					t.Errorf("html has no href to %q:\n%s", d.Link, m.HTML)
				}
			}
			if strings.Contains(m.Text, "\n\n\n") || strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") {
				t.Errorf("sloppy output:\n%s", m.Text)
			}
			t.Logf("%s\n%s", m.Subject, m.Text)
		})
	}
	for _, k := range Kinds() {
		if !seen[k] {
			t.Errorf("kind %s not tested", k)
		}
	}
}

// A hostile name cannot inject markup into the HTML part nor a fake link
// line into the text part; a hostile link is refused.
func TestTemplatesEscape(t *testing.T) {
	tpl, err := NewTemplates("Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	link := "https://auth.example.com/verify-email?token=abc&next=%2F"
	m, err := tpl.Render(Data{
		Kind: KindInvitation, To: "eve@example.com", Link: link,
		Name:    `<script>alert(1)</script>` + "\nhttps://evil.example/phish",
		Inviter: `"><img src=x onerror=alert(1)>`, Roles: []string{"<b>admin</b>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "<b>admin"} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("html contains %q:\n%s", bad, m.HTML)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("html does not show the escaped name:\n%s", m.HTML)
	}
	if hasLine(m.Text, "https://evil.example/phish") {
		t.Errorf("name forged a link line:\n%s", m.Text)
	}
	if !hasLine(m.Text, link) || !strings.Contains(m.HTML, `href="https://auth.example.com/verify-email?token=abc&amp;next=%2F"`) {
		t.Errorf("link mangled:\n%s\n%s", m.Text, m.HTML)
	}
}

func TestTemplatesRenderErrors(t *testing.T) {
	tpl, err := NewTemplates("Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	const link = "https://auth.example.com/magic-link?token=T"
	tests := []struct {
		name string
		d    Data
		is   error
	}{
		{"unknown kind", Data{Kind: "newsletter", To: "a@example.com", Link: link}, ErrUnknownKind},
		{"empty kind", Data{To: "a@example.com", Link: link}, ErrUnknownKind},
		{"no link", Data{Kind: KindMagicLink, To: "a@example.com"}, nil},
		{"javascript link", Data{Kind: KindMagicLink, To: "a@example.com", Link: "javascript:alert(1)"}, nil},
		{"relative link", Data{Kind: KindMagicLink, To: "a@example.com", Link: "/magic-link?token=T"}, nil},
		{"link with a line break", Data{Kind: KindMagicLink, To: "a@example.com", Link: link + "\nhttps://evil.example"}, nil},
		{"no recipient", Data{Kind: KindMagicLink, Link: link}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tpl.Render(tc.d)
			if err == nil {
				t.Fatal("rendered")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	if _, err := NewTemplates(" \n "); err == nil {
		t.Error("empty product name accepted")
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                            "",
		-time.Minute:                 "",
		10 * time.Second:             "1 minute",
		15 * time.Minute:             "15 minutes",
		time.Hour:                    "1 hour",
		90 * time.Minute:             "1 hour and 30 minutes",
		24 * time.Hour:               "1 day",
		72 * time.Hour:               "3 days",
		26*time.Hour + 5*time.Minute: "1 day, 2 hours and 5 minutes",
		2*time.Hour + 29*time.Second: "2 hours",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
