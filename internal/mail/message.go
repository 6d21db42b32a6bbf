package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one mail to one recipient. Text is required (every mail has a
// plain-text part holding the link); HTML is optional.
type Message struct {
	To      string // one RFC 5322 address, "a@example.com" or "A <a@example.com>"
	Subject string
	Text    string
	HTML    string
	Kind    string // template kind, for logs and metrics ("verify_email", ...)
}

// Sender delivers one message synchronously. Implementations honour ctx:
// when it ends, Send returns promptly with an error.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a failure that retrying cannot fix: an invalid
// message, or a 5xx reply from the mail server. Test with errors.Is; the
// Queue does not retry such failures.
var ErrPermanent = errors.New("permanent mail failure")

// permanentError wraps err so that errors.Is(err, ErrPermanent) holds
// without changing its message.
type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

func permanent(err error) error { return permanentError{err} }

// Validate reports whether m can be sent: To is a single address, Subject
// is one line, Text is not empty. Its errors satisfy errors.Is(err,
// ErrPermanent).
func (m Message) Validate() error {
	if strings.TrimSpace(m.To) == "" {
		return permanent(errors.New("mail: message has no recipient"))
	}
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return permanent(fmt.Errorf("mail: recipient %q is not an address: %v", m.To, err))
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return permanent(errors.New("mail: subject contains a line break"))
	}
	if strings.TrimSpace(m.Text) == "" {
		return permanent(errors.New("mail: message has no plain-text part"))
	}
	return nil
}

// sender is a parsed From address and the domain its Message-IDs use.
type sender struct {
	addr   *netmail.Address
	domain string
}

// parseFrom validates an RFC 5322 From address like
// "Gatehouse <no-reply@localhost>".
func parseFrom(from string) (sender, error) {
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return sender{}, fmt.Errorf("mail: from %q is not an RFC 5322 address: %v", from, err)
	}
	domain := a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	return sender{addr: a, domain: domain}, nil
}

// build turns m into a go-mail message: From, To, Subject, Date,
// Message-ID, MIME-Version, and a text/plain part, inside a
// multipart/alternative with a text/html part when m.HTML is set. Both
// transports write exactly this message, so the outbox shows what SMTP
// would have sent.
func (s sender) build(m Message, now time.Time) (*gomail.Msg, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.addr)
	if err := msg.To(m.To); err != nil {
		return nil, permanent(fmt.Errorf("mail: recipient %q: %w", m.To, err))
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue(randomHex(16) + "@" + s.domain)
	// RFC 3834: ask vacation responders not to answer a machine.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// randomHex returns n random bytes as hex; crypto/rand does not fail on
// the platforms Gatehouse supports.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
