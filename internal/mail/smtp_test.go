package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
)

// received is one message accepted by the test server.
type received struct {
	from   string
	to     []string
	data   []byte
	authed string // user that authenticated, "" for none
	tls    bool
}

// backend is an in-process SMTP server that records what it accepts.
type backend struct {
	user, pass string   // required credentials; "" accepts anyone unauthenticated
	mechs      []string // offered AUTH mechanisms when user is set
	rcptErr    error    // returned from RCPT
	dataHook   func() error

	mu   sync.Mutex
	msgs []received
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{b: b, cur: received{tls: isTLS}}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b   *backend
	cur received
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return s.b.mechs
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return gosmtp.ErrAuthFailed
		}
		s.cur.authed = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.b.user != "" && s.cur.authed == "" {
		return gosmtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataHook != nil {
		if err := s.b.dataHook(); err != nil {
			return err
		}
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{tls: s.cur.tls, authed: s.cur.authed} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response carries the user
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

type serverOpts struct {
	listen      string // default 127.0.0.1:0
	startTLS    bool   // offer STARTTLS
	implicitTLS bool   // TLS from the first byte
	insecure    bool   // allow AUTH without TLS
}

// startServer runs the backend on a free port until the test ends and
// returns its port.
func startServer(t *testing.T, be *backend, o serverOpts) int {
	t.Helper()
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		t.Skipf("listen %s: %v", o.listen, err)
	}
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = o.insecure
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if o.startTLS || o.implicitTLS {
		cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		if o.startTLS {
			srv.TLSConfig = cfg
		}
		if o.implicitTLS {
			l = tls.NewListener(l, cfg)
		}
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned makes a certificate for 127.0.0.1 and localhost that no
// client trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

const (
	testUser = "mailer"
	testPass = "s3cret p@ss/wörd"
)

// userinfo is testUser:testPass percent-encoded for a URL.
var userinfo = url.UserPassword(testUser, testPass).String()

func TestSMTPDelivers(t *testing.T) {
	tests := []struct {
		name   string
		be     *backend
		server serverOpts
		url    string // PORT stands for ":<port>"
		authed string
		tls    bool
	}{
		{name: "no auth", be: &backend{}, url: "smtp://127.0.0.1PORT"},
		{
			name: "AUTH PLAIN to localhost without TLS", server: serverOpts{insecure: true},
			be:  &backend{user: testUser, pass: testPass, mechs: []string{sasl.Plain, sasl.Login}},
			url: "smtp://" + userinfo + "@127.0.0.1PORT", authed: testUser,
		},
		{
			name: "AUTH LOGIN when PLAIN is not offered", server: serverOpts{insecure: true},
			be:  &backend{user: testUser, pass: testPass, mechs: []string{sasl.Login}},
			url: "smtp://" + userinfo + "@127.0.0.1PORT", authed: testUser,
		},
		{
			name: "STARTTLS required, AUTH only over TLS", server: serverOpts{startTLS: true},
			be:  &backend{user: testUser, pass: testPass, mechs: []string{sasl.Plain}},
			url: "smtp://" + userinfo + "@127.0.0.1PORT?tls=required&insecure_skip_verify=true", authed: testUser, tls: true,
		},
		{
			name: "STARTTLS taken when offered", server: serverOpts{startTLS: true},
			be:  &backend{},
			url: "smtp://127.0.0.1PORT/?insecure_skip_verify=true", tls: true,
		},
		{
			name: "implicit TLS", server: serverOpts{implicitTLS: true},
			be:  &backend{user: testUser, pass: testPass, mechs: []string{sasl.Plain}},
			url: "smtps://" + userinfo + "@localhostPORT?insecure_skip_verify=true", authed: testUser, tls: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := startServer(t, tc.be, tc.server)
			s, err := NewSMTP(secret.Secret(strings.ReplaceAll(tc.url, "PORT", ":"+strconv.Itoa(port))), testFrom)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := testMessage()
			if err := s.Send(ctx, m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := tc.be.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages", len(got))
			}
			r := got[0]
			if r.from != "no-reply@gatehouse.test" || len(r.to) != 1 || r.to[0] != "alice@example.com" {
				t.Errorf("envelope from %q to %q", r.from, r.to)
			}
			if r.authed != tc.authed || r.tls != tc.tls {
				t.Errorf("authed %q tls %v, want %q %v", r.authed, r.tls, tc.authed, tc.tls)
			}
			p := parseMail(t, r.data)
			checkMail(t, p, m)
			if !hasLine(p.Text, testLink) {
				t.Errorf("text part has no line %q:\n%s", testLink, p.Text)
			}
		})
	}
}

func TestSMTPFailures(t *testing.T) {
	tests := []struct {
		name      string
		be        *backend
		server    serverOpts
		url       string
		permanent bool
		want      string // in the error
	}{
		{
			name: "STARTTLS required but not offered", be: &backend{},
			url: "smtp://127.0.0.1PORT?tls=required", want: "STARTTLS",
		},
		{
			name: "untrusted certificate", be: &backend{}, server: serverOpts{startTLS: true},
			url: "smtp://127.0.0.1PORT", want: "certificate",
		},
		{
			name: "wrong password", server: serverOpts{insecure: true},
			be:  &backend{user: testUser, pass: "other", mechs: []string{sasl.Plain}},
			url: "smtp://" + userinfo + "@127.0.0.1PORT", permanent: true, want: "535",
		},
		{
			name: "server offers no AUTH", be: &backend{},
			url: "smtp://" + userinfo + "@127.0.0.1PORT", want: "offers no AUTH",
		},
		{
			name: "recipient rejected", be: &backend{rcptErr: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
			url: "smtp://127.0.0.1PORT", permanent: true, want: "no such user",
		},
		{
			name: "temporary failure", be: &backend{rcptErr: &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}},
			url: "smtp://127.0.0.1PORT", want: "try later",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := startServer(t, tc.be, tc.server)
			s, err := NewSMTP(secret.Secret(strings.ReplaceAll(tc.url, "PORT", ":"+strconv.Itoa(port))), testFrom)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = s.Send(ctx, testMessage())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", !tc.permanent, tc.permanent, err)
			}
			if strings.Contains(err.Error(), testPass) || strings.Contains(err.Error(), "p%40ss") {
				t.Errorf("error leaks the password: %v", err)
			}
			if n := len(tc.be.messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

// A password is never sent in clear to a host that is not localhost.
func TestSMTPRefusesPlainAuthOverNetwork(t *testing.T) {
	be := &backend{user: testUser, pass: testPass, mechs: []string{sasl.Plain, sasl.Login}}
	port := startServer(t, be, serverOpts{listen: "127.0.0.2:0", insecure: true})
	s, err := NewSMTP(secret.Secret("smtp://"+userinfo+"@127.0.0.2:"+strconv.Itoa(port)), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	if err == nil || !strings.Contains(err.Error(), "without TLS") || strings.Contains(err.Error(), testPass) {
		t.Fatalf("Send = %v, want refusal without TLS", err)
	}
}

// Send gives up when ctx ends even if the server stalls mid-DATA.
func TestSMTPHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	be := &backend{dataHook: func() error { <-release; return nil }}
	port := startServer(t, be, serverOpts{})
	s, err := NewSMTP(secret.Secret("smtp://127.0.0.1:"+strconv.Itoa(port)), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mk   func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.mk()
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, testMessage())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Send took %v after ctx ended", d)
			}
		})
	}
}

func (s *SMTP) username() string {
	if s.cred == nil {
		return ""
	}
	return s.cred.user
}

func TestNewSMTPURL(t *testing.T) {
	tests := []struct {
		url    string
		want   string // String() of the result, or a piece of the error
		user   string
		policy string
		ok     bool
	}{
		{url: "smtp://mail.example.com", want: "smtp://mail.example.com:587", ok: true},
		{url: "smtps://mail.example.com", want: "smtps://mail.example.com:465", ok: true},
		{url: "smtp://" + userinfo + "@mail.example.com:2525", want: "smtp://mail.example.com:2525", user: testUser, ok: true},
		{url: "smtp://u:p@[::1]:25?tls=required", want: "smtp://[::1]:25", user: "u", ok: true},
		{url: "smtp://h:25?insecure_skip_verify=false&tls=opportunistic", want: "smtp://h:25", ok: true},
		{url: "http://u:hunter2@h", want: "scheme"},
		{url: "smtp://u:" + testPass + "@h", want: "not a valid URL"},
		{url: "smtp://u:hunter2@", want: "no host"},
		{url: "smtp://u:hunter2@h:0", want: "port"},
		{url: "smtp://u:hunter2@h:99999", want: "port"},
		{url: "smtp://u:hunter2@h/path", want: "path"},
		{url: "smtp://u:hunter2@h?tls=maybe", want: "tls must be"},
		{url: "smtp://u:hunter2@h?insecure_skip_verify=yes", want: "insecure_skip_verify"},
		{url: "smtp://u:hunter2@h?password=hunter2", want: "unknown parameter"},
		{url: "smtp://:hunter2@h", want: "without a user"},
		{url: "smtp://u:hunter2%zz@h", want: "not a valid URL"},
		{url: "smtp://u:hun ter2@h", want: "not a valid URL"},
		{url: "", want: "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			s, err := NewSMTP(secret.Secret(tc.url), testFrom)
			if !tc.ok {
				if err == nil {
					t.Fatalf("accepted")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not mention %q", err, tc.want)
				}
				for _, leak := range []string{"hunter2", "hun ter2", testPass} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error leaks the password: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.String() != tc.want || s.username() != tc.user {
				t.Errorf("got %s user %q", s, s.username())
			}
			for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprintf("%+v", *s)} {
				if strings.Contains(out, "p@ss") || strings.Contains(out, "p%40ss") {
					t.Errorf("formatting leaks the password: %s", out)
				}
			}
		})
	}
	if _, err := NewSMTP("smtp://h", "not an address"); err == nil {
		t.Error("bad From accepted")
	}
}
