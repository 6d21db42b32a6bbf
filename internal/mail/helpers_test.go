package mail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
)

// parsedMail is a received or written mail taken apart with the standard
// library only, the way a mail client would.
type parsedMail struct {
	Header      netmail.Header
	ContentType string // media type of the whole message
	Text, HTML  string // decoded parts, CRLF turned into LF
}

// parseMail reads raw as RFC 5322 and MIME, decoding each part's
// transfer encoding itself (NextRawPart), and fails the test on anything
// malformed.
func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v\n%s", err, raw)
	}
	p := parsedMail{Header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	p.ContentType = mt
	store := func(mediaType, cte string, body io.Reader) {
		text := decodeBody(t, cte, body)
		switch mediaType {
		case "text/plain":
			p.Text = text
		case "text/html":
			p.HTML = text
		default:
			t.Fatalf("unexpected part %s", mediaType)
		}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		store(mt, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		store(pt, part.Header.Get("Content-Transfer-Encoding"), part)
	}
	return p
}

func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", cte, err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// hasLine reports whether text has a line that is exactly line.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// testLink is long enough that quoted-printable must fold it, and has a
// query separator that HTML must escape.
const testLink = "https://auth.example.com/verify-email?token=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8&lang=en"

func testMessage() Message {
	return Message{
		To:      "Alice <alice@example.com>",
		Subject: "Gatehouse: Verify your email address",
		Text:    "Hello,\n\nOpen this link:\n\n" + testLink + "\n\nBye.\n",
		HTML:    `<p>Open <a href="` + strings.ReplaceAll(testLink, "&", "&amp;") + `">this link</a>.</p>`,
		Kind:    KindVerifyEmail,
	}
}

const testFrom = "Gatehouse <no-reply@gatehouse.test>"

// checkMail asserts what every Gatehouse mail must have.
func checkMail(t *testing.T, p parsedMail, m Message) {
	t.Helper()
	from, err := p.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@gatehouse.test" || from[0].Name != "Gatehouse" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := p.Header.AddressList("To")
	want, _ := netmail.ParseAddress(m.To)
	if err != nil || len(to) != 1 || to[0].Address != want.Address {
		t.Errorf("To = %v (%v), want %s", to, err, want.Address)
	}
	var dec mime.WordDecoder
	if subj, err := dec.DecodeHeader(p.Header.Get("Subject")); err != nil || subj != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, m.Subject)
	}
	if _, err := p.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := p.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@gatehouse.test>") {
		t.Errorf("Message-ID = %q", id)
	}
	if v := p.Header.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if m.HTML != "" {
		if p.ContentType != "multipart/alternative" {
			t.Errorf("Content-Type = %q, want multipart/alternative", p.ContentType)
		}
		if p.HTML != m.HTML {
			t.Errorf("html part = %q, want %q", p.HTML, m.HTML)
		}
	}
	if strings.TrimRight(p.Text, "\n") != strings.TrimRight(m.Text, "\n") {
		t.Errorf("text part = %q, want %q", p.Text, m.Text)
	}
}
