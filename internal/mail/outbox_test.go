package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var outboxName = regexp.MustCompile(`^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{16}\.eml$`)

func newTestOutbox(t *testing.T) (*Outbox, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	dir := filepath.Join(t.TempDir(), "data", "outbox")
	o, err := NewOutbox(dir, testFrom, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return o, &logs
}

// outboxFiles returns every entry in the outbox directory.
func outboxFiles(t *testing.T, o *Outbox) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(o.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestOutboxWritesMail(t *testing.T) {
	tests := []struct {
		name        string
		m           Message
		contentType string
	}{
		{"text and html", testMessage(), "multipart/alternative"},
		{"text only", func() Message { m := testMessage(); m.HTML = ""; return m }(), "text/plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, logs := newTestOutbox(t)
			if fi, err := os.Stat(o.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("outbox dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
			}
			if err := o.Send(context.Background(), tc.m); err != nil {
				t.Fatal(err)
			}
			files := outboxFiles(t, o)
			if len(files) != 1 {
				t.Fatalf("outbox has %d entries, want 1", len(files))
			}
			name := files[0].Name()
			if !outboxName.MatchString(name) {
				t.Errorf("file name %q does not match %s", name, outboxName)
			}
			stamp, err := time.Parse(outboxTimeFormat, name[:len("20261124T213501.123456Z")])
			if err != nil || time.Since(stamp) > time.Minute || time.Since(stamp) < -time.Minute {
				t.Errorf("file time %v (%v) is not now", stamp, err)
			}
			path := filepath.Join(o.Dir(), name)
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("file mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p := parseMail(t, raw)
			if p.ContentType != tc.contentType {
				t.Errorf("Content-Type %q, want %q", p.ContentType, tc.contentType)
			}
			checkMail(t, p, tc.m)
			if !hasLine(p.Text, testLink) {
				t.Errorf("text part has no line %q:\n%s", testLink, p.Text)
			}

			line := logs.String()
			if strings.Count(line, "\n") != 1 {
				t.Errorf("want one log line, got %q", line)
			}
			for _, want := range []string{"alice@example.com", "kind=verify_email", "Verify your email address", name} {
				if !strings.Contains(line, want) {
					t.Errorf("log line %q lacks %q", line, want)
				}
			}
			if strings.Contains(line, "token=") || strings.Contains(line, "Zm9vYmFy") {
				t.Errorf("log line leaks the link: %q", line)
			}
		})
	}
}

func TestOutboxRejects(t *testing.T) {
	o, logs := newTestOutbox(t)
	for name, m := range map[string]Message{
		"no recipient":       {Subject: "s", Text: "t"},
		"bad recipient":      {To: "not an address", Subject: "s", Text: "t"},
		"no text":            {To: "a@example.com", Subject: "s", HTML: "<p>hi</p>"},
		"subject line break": {To: "a@example.com", Subject: "s\r\nBcc: x@example.com", Text: "t"},
	} {
		if err := o.Send(context.Background(), m); !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: Send = %v, want ErrPermanent", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Send = %v", err)
	}
	if files := outboxFiles(t, o); len(files) != 0 || logs.Len() != 0 {
		t.Errorf("rejected mail left %d files and logs %q", len(files), logs)
	}
	if _, err := NewOutbox(t.TempDir(), "nobody", nil); err == nil {
		t.Error("bad From accepted")
	}
	if _, err := NewOutbox("", testFrom, nil); err == nil {
		t.Error("empty dir accepted")
	}
}

// Many sends in the same millisecond get distinct files, and no temporary
// file is left behind.
func TestOutboxDistinctFiles(t *testing.T) {
	o, _ := newTestOutbox(t)
	fixed := time.Date(2026, 11, 24, 21, 35, 1, 123e6, time.UTC)
	o.now = func() time.Time { return fixed }
	for range 20 {
		if err := o.Send(context.Background(), testMessage()); err != nil {
			t.Fatal(err)
		}
	}
	files := outboxFiles(t, o)
	if len(files) != 20 {
		t.Fatalf("%d files, want 20", len(files))
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Name(), "20261124T213501.123000Z-") || !strings.HasSuffix(f.Name(), ".eml") {
			t.Errorf("unexpected entry %q", f.Name())
		}
	}
}

// Mails sent one after the other list in sending order, as a developer
// (and the tests that read the outbox) read them.
func TestOutboxListsInSendingOrder(t *testing.T) {
	o, _ := newTestOutbox(t)
	const n = 30
	for i := range n {
		m := testMessage()
		m.Subject = fmt.Sprintf("mail %02d", i)
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	files := outboxFiles(t, o) // os.ReadDir sorts by name
	if len(files) != n {
		t.Fatalf("%d files, want %d", len(files), n)
	}
	for i, f := range files {
		raw, err := os.ReadFile(filepath.Join(o.Dir(), f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("Subject: mail %02d", i); !bytes.Contains(raw, []byte(want)) {
			t.Fatalf("entry %d (%s) is not the %d-th mail sent", i, f.Name(), i+1)
		}
	}
}

// A rendered mail goes through the outbox and comes out with its link on a
// line of its own: the path a developer follows to click a link.
func TestRenderedMailThroughOutbox(t *testing.T) {
	tpl, err := NewTemplates("Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	link := "https://auth.example.com/reset-password?token=" + strings.Repeat("x", 43)
	m, err := tpl.Render(Data{Kind: KindResetPassword, To: "bob@example.com", Name: "Bob", Link: link, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o, logs := newTestOutbox(t)
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(o.Dir(), outboxFiles(t, o)[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, raw)
	checkMail(t, p, m)
	if !hasLine(p.Text, link) {
		t.Errorf("text part has no line %q:\n%s", link, p.Text)
	}
	if strings.Contains(logs.String(), link) {
		t.Errorf("log leaks the link: %s", logs)
	}
}
