package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// outboxTimeFormat names outbox files so that a directory listing is in
// sending order: 20261124T213501.123456Z. Microseconds, not milliseconds:
// two mails sent one after the other often fall in one millisecond, and
// then their random ids, not their times, ordered them.
const outboxTimeFormat = "20060102T150405.000000Z"

// Outbox is the development transport: instead of sending, it writes each
// message as an RFC 5322 file <dir>/<time>-<id>.eml (time in UTC like
// 20261124T213501.123456Z, id 16 random hex digits), mode 0600, and logs one
// line naming the file. The file holds exactly the bytes SMTP would send.
// A file appears whole or not at all (written aside, then renamed), so a
// reader polling the directory for *.eml never sees half a message.
type Outbox struct {
	dir  string
	from sender
	log  *slog.Logger
	now  func() time.Time
}

var _ Sender = (*Outbox)(nil)

// NewOutbox creates dir (mode 0700) if needed and validates from, an
// RFC 5322 address like "Gatehouse <no-reply@localhost>". A nil log
// discards.
func NewOutbox(dir, from string, log *slog.Logger) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("mail: outbox directory is empty")
	}
	f, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: create outbox: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{dir: dir, from: f, log: log, now: time.Now}, nil
}

// Dir is the directory the files are written to.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m to a new file and logs to, subject, kind and file name;
// never the body, which holds one-time links.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: outbox %s: %w", m.Kind, err)
	}
	now := o.now()
	msg, err := o.from.build(m, now)
	if err != nil {
		return err
	}
	name := filepath.Join(o.dir, now.UTC().Format(outboxTimeFormat)+"-"+randomHex(8)+".eml")

	// CreateTemp makes the file 0600; the dot name and .tmp suffix keep
	// it out of *.eml until it is complete.
	tmp, err := os.CreateTemp(o.dir, ".outbox-*.tmp")
	if err != nil {
		return fmt.Errorf("mail: outbox %s: %w", m.Kind, err)
	}
	_, werr := msg.WriteTo(tmp)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox %s: write %s: %w", m.Kind, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox %s: %w", m.Kind, err)
	}
	o.log.InfoContext(ctx, "mail written to outbox",
		"to", m.To, "subject", m.Subject, "kind", m.Kind, "file", name)
	return nil
}
