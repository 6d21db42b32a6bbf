package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gmsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
)

// DefaultSMTPTimeout bounds one SMTP delivery when the caller's context
// has no deadline, so a silent server cannot hold a sender forever.
const DefaultSMTPTimeout = 30 * time.Second

// Default ports when the URL names none: mail submission (RFC 6409) for
// smtp://, submissions (RFC 8314) for smtps://.
const (
	defaultSMTPPort  = 587
	defaultSMTPSPort = 465
)

// SMTP delivers each message in its own connection to one SMTP server.
// It keeps no connection open between sends and is safe for concurrent
// use.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool             // smtps://: TLS from the first byte
	policy      gomail.TLSPolicy // STARTTLS policy for smtp://
	tlsConfig   *tls.Config      // shared read-only by every connection
	cred        *credentials     // nil: no AUTH
	from        sender
}

// credentials sit behind a pointer so that no fmt verb prints them: fmt
// shows a nested pointer as an address, and cannot call Secret's
// redacting methods on unexported fields.
type credentials struct {
	user string
	pass secret.Secret
}

var _ Sender = (*SMTP)(nil)

// NewSMTP validates an SMTP URL and a From address and returns a sender.
// Nothing is dialled until Send.
//
// The URL is smtp://user:pass@host:port or smtps://user:pass@host:port:
//
//   - smtp:// upgrades with STARTTLS when the server offers it (a server
//     that offers it must then present a valid certificate);
//     "?tls=required" refuses a server that does not offer it. Default
//     port 587.
//   - smtps:// speaks TLS from the first byte (RFC 8314). Default port 465.
//   - "?insecure_skip_verify=true" accepts any certificate; for tests only.
//   - With a user, the client authenticates with AUTH PLAIN, or LOGIN when
//     the server offers only that, and only over TLS or to localhost: the
//     password is never sent in clear over a network.
//
// Special characters in the user or password must be percent-encoded.
// Errors name the URL with its password replaced by "xxxxx" and without
// its query.
func NewSMTP(rawURL secret.Secret, from string) (*SMTP, error) {
	s, err := parseSMTPURL(rawURL.Reveal())
	if err != nil {
		return nil, err
	}
	if s.from, err = parseFrom(from); err != nil {
		return nil, err
	}
	return s, nil
}

// parseSMTPURL reads the settings out of raw. Its errors never quote raw:
// url.Parse errors do (and even their inner errors may quote a piece of
// the password), so they are replaced by a generic message.
func parseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("mail: smtp url is not a valid URL (percent-encode special characters in the user and password)")
	}
	// Name the URL in errors without its password or query (whose
	// values could hold anything).
	shown := *u
	shown.RawQuery, shown.ForceQuery, shown.Fragment, shown.RawFragment = "", false, "", ""
	where := "mail: smtp url " + shown.Redacted()
	s := &SMTP{}
	switch u.Scheme {
	case "smtp":
		s.port, s.policy = defaultSMTPPort, gomail.TLSOpportunistic
	case "smtps":
		s.port, s.policy, s.implicitTLS = defaultSMTPSPort, gomail.NoTLS, true
	default:
		return nil, fmt.Errorf("mail: smtp url scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if s.host = u.Hostname(); s.host == "" {
		return nil, fmt.Errorf("%s: no host", where)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%s: port %q is not 1-65535", where, p)
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%s: unexpected path %q", where, u.Path)
	}
	if u.User != nil {
		user := u.User.Username()
		pass, _ := u.User.Password()
		if user == "" && pass != "" {
			return nil, fmt.Errorf("%s: password without a user", where)
		}
		if user != "" {
			s.cred = &credentials{user: user, pass: secret.Secret(pass)}
		}
	}
	insecure := false
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "tls":
			switch v {
			case "required":
				if !s.implicitTLS {
					s.policy = gomail.TLSMandatory
				}
			case "opportunistic", "":
			default:
				return nil, fmt.Errorf("%s: tls must be \"required\" or \"opportunistic\"", where)
			}
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s: insecure_skip_verify must be true or false", where)
			}
			insecure = b
		default:
			return nil, fmt.Errorf("%s: unknown parameter %q (known: tls, insecure_skip_verify)", where, key)
		}
	}
	s.tlsConfig = &tls.Config{
		ServerName:         s.host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecure, //nolint:gosec // opt-in, documented as tests only
	}
	return s, nil
}

// String describes the server without credentials, for logs.
func (s SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Send makes one delivery attempt: dial, optional STARTTLS and AUTH, MAIL,
// RCPT, DATA, QUIT. The whole exchange ends when ctx does (or after
// DefaultSMTPTimeout when ctx has no deadline). A 5xx reply or an invalid
// message gives an error satisfying errors.Is(err, ErrPermanent).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: send %s via %s: %w", m.Kind, s, err)
	}
	msg, err := s.from.build(m, time.Now())
	if err != nil {
		return err
	}
	timeout := DefaultSMTPTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return fmt.Errorf("mail: send %s via %s: %w", m.Kind, s, context.DeadlineExceeded)
		}
	}

	// go-mail bounds each command by the timeout but only watches ctx
	// while dialling; closing the connection when ctx ends makes a
	// cancelled send (Queue.Close running out of time) return at once.
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		stops = append(stops, context.AfterFunc(ctx, func() { _ = conn.Close() }))
		if !s.implicitTLS {
			return conn, nil
		}
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.cred != nil {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{user: s.cred.user, pass: s.cred.pass.Reveal(), host: s.host}))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: smtp client for %s: %w", s, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil && !msg.IsDelivered() {
		// A failure after the server accepted the DATA (RSET, QUIT) is
		// not a failed delivery: retrying would send the mail twice.
		return s.sendError(ctx, m, err)
	}
	return nil
}

// sendError wraps a failed delivery with context, marks 5xx replies
// permanent, and scrubs the password should any layer have echoed it.
func (s *SMTP) sendError(ctx context.Context, m Message, err error) error {
	if errors.Is(err, gmsmtp.ErrUnencrypted) {
		err = fmt.Errorf("%w: refusing to send the password to %s without TLS", err, s.host)
	}
	ctxErr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(dl) {
		// The connection deadline (set from ctx's) can fire before
		// ctx's own timer does.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	wrapped := fmt.Errorf("mail: send %s via %s: %w", m.Kind, s, err)
	if pass := s.password(); pass != "" && strings.Contains(wrapped.Error(), pass) {
		// Do not keep the chain: Unwrap would lead back to the password.
		wrapped = errors.New(strings.ReplaceAll(wrapped.Error(), pass, "xxxxx"))
	}
	if smtpCode(err) >= 500 {
		return permanent(wrapped)
	}
	return wrapped
}

func (s *SMTP) password() string {
	if s.cred == nil {
		return ""
	}
	return s.cred.pass.Reveal()
}

// smtpCode returns the SMTP reply code behind err, or 0 when the failure
// was not a server reply (network, TLS, timeout).
func smtpCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// plainOrLogin authenticates with AUTH PLAIN, or LOGIN when the server
// offers only that. It delegates to go-mail's implementations, which
// refuse to run over an unencrypted connection except to localhost. One
// value serves one connection (LOGIN keeps state).
type plainOrLogin struct {
	user, pass, host string
	inner            gmsmtp.Auth
}

func (a *plainOrLogin) Start(server *gmsmtp.ServerInfo) (string, []byte, error) {
	offers := func(mech string) bool {
		return slices.ContainsFunc(server.Auth, func(m string) bool { return strings.EqualFold(m, mech) })
	}
	switch {
	case offers("PLAIN"):
		a.inner = gmsmtp.PlainAuth("", a.user, a.pass, a.host, false)
	case offers("LOGIN"):
		a.inner = gmsmtp.LoginAuth(a.user, a.pass, a.host, false)
	case len(server.Auth) == 0:
		return "", nil, errors.New("a user is configured but the server offers no AUTH")
	default:
		return "", nil, fmt.Errorf("server offers neither AUTH PLAIN nor LOGIN (it offers %s)", strings.Join(server.Auth, " "))
	}
	return a.inner.Start(server)
}

func (a *plainOrLogin) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}

// GoString keeps %#v from printing the credentials (fmt reads unexported
// fields without calling their String methods).
func (s SMTP) GoString() string { return "mail.SMTP(" + s.String() + ")" }
