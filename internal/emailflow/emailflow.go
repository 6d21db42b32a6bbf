package emailflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// Audit event types of the mail flows.
const (
	EventVerificationSent   = "email.verification_sent"
	EventEmailVerified      = "email.verified"
	EventResetRequested     = "password.reset_requested"
	EventPasswordReset      = "password.reset"
	EventMagicLinkSent      = "magic_link.sent"
	EventMagicLinkUsed      = "magic_link.used"
	EventInvitationCreated  = "invitation.created"
	EventInvitationAccepted = "invitation.accepted"
	EventNoticeSent         = "notice.sent"
)

// ErrInvalidToken: unknown, expired or already used.
var ErrInvalidToken = errors.New("invalid or expired token")

// Store is the persistence the flows need.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByEmail(ctx context.Context, emailNormalized string) (store.User, error)
	CreateOneTimeToken(ctx context.Context, t *store.OneTimeToken, ev *store.AuditEvent) error
	ConsumeOneTimeToken(ctx context.Context, typ, tokenHash string, now time.Time, ev *store.AuditEvent) (store.OneTimeToken, error)
	VerifyEmail(ctx context.Context, tokenHash string, now time.Time, ev *store.AuditEvent) (store.User, error)
	ResetPassword(ctx context.Context, tokenHash, newHash string, now time.Time, ev *store.AuditEvent) (store.User, []string, error)
	MarkEmailVerified(ctx context.Context, userID string, now time.Time, ev *store.AuditEvent) error
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
}

// Mailer queues a message for delivery (mail.Queue).
type Mailer interface {
	Enqueue(m mail.Message) error
}

// Renderer renders a mail (mail.Templates).
type Renderer interface {
	Render(d mail.Data) (mail.Message, error)
}

// Passwords checks and hashes new passwords, and checks that an inviter
// holds every permission of the roles they hand out (the identity service).
type Passwords interface {
	NewPasswordHash(ctx context.Context, u store.User, pw, field string) (string, error)
	CheckGrant(ctx context.Context, actor store.User, roles []string) error
}

// Roles checks that invitation roles exist.
type Roles interface {
	RoleExists(ctx context.Context, name string) (bool, error)
}

// Options configure lifetimes (O6) and links.
type Options struct {
	PublicURL     string
	VerifyTTL     time.Duration // 24h
	ResetTTL      time.Duration // 1h
	MagicLinkTTL  time.Duration // 15m
	InvitationTTL time.Duration // 7 days
	// Workers run the address-initiated flows in the background.
	Workers int
	Now     func() time.Time
	Log     *slog.Logger
	// OnUserChanged is told of a user whose cached sessions are stale: a
	// password reset ended them, or a verification changed the address.
	OnUserChanged func(userID string)
}

// Service implements the flows.
type Service struct {
	st    Store
	mail  Mailer
	tpl   Renderer
	pw    Passwords
	roles Roles
	o     Options
	jobs  chan job
}

type job struct {
	meta audit.Meta
	run  func(ctx context.Context) error
	name string
}

// New builds the service; call Run to start its workers.
func New(st Store, m Mailer, tpl Renderer, pw Passwords, roles Roles, o Options) *Service {
	if o.VerifyTTL <= 0 {
		o.VerifyTTL = 24 * time.Hour
	}
	if o.ResetTTL <= 0 {
		o.ResetTTL = time.Hour
	}
	if o.MagicLinkTTL <= 0 {
		o.MagicLinkTTL = 15 * time.Minute
	}
	if o.InvitationTTL <= 0 {
		o.InvitationTTL = 7 * 24 * time.Hour
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnUserChanged == nil {
		o.OnUserChanged = func(string) {}
	}
	return &Service{st: st, mail: m, tpl: tpl, pw: pw, roles: roles, o: o, jobs: make(chan job, 1000)}
}

// Run works off background jobs until ctx ends.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	for i := 0; i < s.o.Workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.jobs:
					jctx := audit.WithMeta(context.WithoutCancel(ctx), j.meta)
					jctx, cancel := context.WithTimeout(jctx, 30*time.Second)
					if err := j.run(jctx); err != nil {
						s.o.Log.ErrorContext(jctx, "mail flow failed", "flow", j.name, "err", err)
					}
					cancel()
				}
			}
		}()
	}
	for i := 0; i < s.o.Workers; i++ {
		<-done
	}
}

// later queues work for the background workers; a full queue drops it
// (logged) rather than slowing the answer.
func (s *Service) later(ctx context.Context, name string, run func(ctx context.Context) error) {
	select {
	case s.jobs <- job{meta: audit.MetaFrom(ctx), run: run, name: name}:
	default:
		s.o.Log.WarnContext(ctx, "mail flow queue full; request dropped", "flow", name)
	}
}

func (s *Service) link(path string, tok secret.Secret) string {
	return s.o.PublicURL + path + "?token=" + url.QueryEscape(tok.Reveal())
}

// mint stores a new one-time token and returns its secret value.
func (s *Service) mint(ctx context.Context, typ, userID, email string, ttl time.Duration, meta map[string]any, ev *store.AuditEvent) (secret.Secret, store.OneTimeToken, error) {
	tok, err := secret.NewToken(secret.TokenBytes)
	if err != nil {
		return "", store.OneTimeToken{}, err
	}
	now := s.o.Now()
	t := store.OneTimeToken{Type: typ, TokenHash: secret.Digest(tok.Reveal()), UserID: userID, Email: email, Metadata: meta, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateOneTimeToken(ctx, &t, ev); err != nil {
		return "", store.OneTimeToken{}, fmt.Errorf("mint %s token: %w", typ, err)
	}
	return tok, t, nil
}

// send renders and queues one mail.
func (s *Service) send(ctx context.Context, d mail.Data) error {
	m, err := s.tpl.Render(d)
	if err != nil {
		return fmt.Errorf("render %s: %w", d.Kind, err)
	}
	if err := s.mail.Enqueue(m); err != nil {
		return fmt.Errorf("queue %s mail: %w", d.Kind, err)
	}
	return nil
}

// lookup normalises the address and finds an active user; ok is false
// when there is nobody to mail.
func (s *Service) lookup(ctx context.Context, email string) (store.User, bool, error) {
	_, norm, problem := validation.NormalizeEmail(email)
	if problem != "" {
		return store.User{}, false, nil
	}
	u, err := s.st.GetUserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	return u, u.Status == store.UserActive, nil
}

// CheckAddress validates the shape of an address given to a request
// endpoint, so a typo is a 400 while existence is never revealed.
func CheckAddress(email string) error {
	if _, _, problem := validation.NormalizeEmail(email); problem != "" {
		return validation.Errors{{Field: "email", Message: problem}}
	}
	return nil
}

// SendVerification mails a verification link to the user (after signup).
func (s *Service) SendVerification(ctx context.Context, u store.User) error {
	ev := audit.MetaFrom(ctx).Event(EventVerificationSent, audit.Success, u.ID, nil)
	tok, _, err := s.mint(ctx, store.TokenEmailVerification, u.ID, u.EmailNormalized, s.o.VerifyTTL, nil, ev)
	if err != nil {
		return err
	}
	return s.send(ctx, mail.Data{Kind: mail.KindVerifyEmail, To: u.Email, Name: u.Name, Link: s.link("/verify-email", tok), ExpiresIn: s.o.VerifyTTL})
}

// SendVerificationLater mails the verification link from the background
// worker, so a signup of a new address takes as long as one of an
// existing address (U11).
func (s *Service) SendVerificationLater(ctx context.Context, u store.User) {
	s.later(ctx, "verify_email", func(ctx context.Context) error { return s.SendVerification(ctx, u) })
}

// RequestVerification starts verification for an address in the
// background; unknown and already verified addresses get nothing.
func (s *Service) RequestVerification(ctx context.Context, email string) {
	s.later(ctx, "verify_email", func(ctx context.Context) error {
		u, ok, err := s.lookup(ctx, email)
		if err != nil || !ok || u.EmailVerified {
			return err
		}
		return s.SendVerification(ctx, u)
	})
}

// ConfirmVerification redeems a verification token (O15).
func (s *Service) ConfirmVerification(ctx context.Context, token string) (store.User, error) {
	ev := audit.MetaFrom(ctx).Event(EventEmailVerified, audit.Success, "", nil)
	u, err := s.st.VerifyEmail(ctx, secret.Digest(token), s.o.Now(), ev)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, fmt.Errorf("verify email: %w", err)
	}
	s.o.OnUserChanged(u.ID)
	return u, nil
}

// RequestPasswordReset mails a reset link in the background.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) {
	s.later(ctx, "reset_password", func(ctx context.Context) error {
		u, ok, err := s.lookup(ctx, email)
		if err != nil || !ok {
			return err
		}
		ev := audit.MetaFrom(ctx).Event(EventResetRequested, audit.Success, u.ID, nil)
		tok, _, err := s.mint(ctx, store.TokenPasswordReset, u.ID, u.EmailNormalized, s.o.ResetTTL, nil, ev)
		if err != nil {
			return err
		}
		return s.send(ctx, mail.Data{Kind: mail.KindResetPassword, To: u.Email, Name: u.Name, Link: s.link("/reset-password", tok), ExpiresIn: s.o.ResetTTL})
	})
}

// ResetPassword completes a reset: new hash, every session and refresh
// token revoked, every other reset token spent (O14).
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	if token == "" {
		return validation.Errors{{Field: "token", Message: "is required"}}
	}
	// The policy needs the user; peek without spending the token.
	// The store re-checks everything atomically when it spends it.
	hash, err := s.pw.NewPasswordHash(ctx, store.User{}, newPassword, "new_password")
	if err != nil {
		return err
	}
	ev := audit.MetaFrom(ctx).Event(EventPasswordReset, audit.Success, "", nil)
	u, _, err := s.st.ResetPassword(ctx, secret.Digest(token), hash, s.o.Now(), ev)
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidToken
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	s.o.OnUserChanged(u.ID)
	return nil
}

// RequestMagicLink mails a sign-in link in the background.
func (s *Service) RequestMagicLink(ctx context.Context, email string) {
	s.later(ctx, "magic_link", func(ctx context.Context) error {
		u, ok, err := s.lookup(ctx, email)
		if err != nil || !ok {
			return err
		}
		ev := audit.MetaFrom(ctx).Event(EventMagicLinkSent, audit.Success, u.ID, nil)
		tok, _, err := s.mint(ctx, store.TokenMagicLink, u.ID, u.EmailNormalized, s.o.MagicLinkTTL, nil, ev)
		if err != nil {
			return err
		}
		return s.send(ctx, mail.Data{Kind: mail.KindMagicLink, To: u.Email, Name: u.Name, Link: s.link("/magic-link", tok), ExpiresIn: s.o.MagicLinkTTL})
	})
}

// ConsumeMagicLink redeems a magic link and returns the user to sign in.
// Following the link proves the address, so it is marked verified.
func (s *Service) ConsumeMagicLink(ctx context.Context, token string) (store.User, error) {
	ev := audit.MetaFrom(ctx).Event(EventMagicLinkUsed, audit.Success, "", nil)
	t, err := s.st.ConsumeOneTimeToken(ctx, store.TokenMagicLink, secret.Digest(token), s.o.Now(), ev)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, fmt.Errorf("magic link: %w", err)
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, fmt.Errorf("magic link: %w", err)
	}
	now := s.o.Now()
	if u.Status != store.UserActive || u.EmailNormalized != t.Email || (u.LockedUntil != nil && u.LockedUntil.After(now)) {
		return store.User{}, ErrInvalidToken
	}
	if !u.EmailVerified {
		if err := s.st.MarkEmailVerified(ctx, u.ID, now, audit.MetaFrom(ctx).Event(EventEmailVerified, audit.Success, u.ID, map[string]any{"via": "magic_link"})); err != nil {
			return store.User{}, fmt.Errorf("magic link: %w", err)
		}
		u.EmailVerified, u.EmailVerifiedAt = true, &now
	}
	return u, nil
}

// Invitation is what an admin gets back (never the token: it goes by mail).
type Invitation struct {
	ID        string
	Email     string
	Roles     []string
	Metadata  map[string]any
	ExpiresAt time.Time
}

// Invite mails an invitation carrying roles and metadata (O3: only an
// admin, through this server, can mint one; O13: the roles live in the
// stored invitation, never in the link).
func (s *Service) Invite(ctx context.Context, actor store.User, email string, roles []string, metadata map[string]any) (Invitation, error) {
	var verr validation.Errors
	_, norm, problem := validation.NormalizeEmail(email)
	if problem != "" {
		verr.Add("email", problem)
	}
	if roles == nil {
		roles = []string{"viewer"}
	}
	for _, r := range roles {
		ok, err := s.roles.RoleExists(ctx, r)
		if err != nil {
			return Invitation{}, err
		}
		if !ok {
			verr.Add("roles", fmt.Sprintf("unknown role %q", r))
		}
	}
	if err := verr.Err(); err != nil {
		return Invitation{}, err
	}
	if err := s.pw.CheckGrant(ctx, actor, roles); err != nil {
		return Invitation{}, err
	}
	if _, err := s.st.GetUserByEmail(ctx, norm); err == nil {
		return Invitation{}, fmt.Errorf("%s already has an account: %w", norm, store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Invitation{}, err
	}
	meta := map[string]any{"roles": roles, "invited_by": actor.ID}
	if metadata != nil {
		meta["metadata"] = metadata
	}
	ev := audit.MetaFrom(ctx).Event(EventInvitationCreated, audit.Success, "", map[string]any{"email": norm, "roles": roles})
	tok, t, err := s.mint(ctx, store.TokenInvitation, "", norm, s.o.InvitationTTL, meta, ev)
	if err != nil {
		return Invitation{}, err
	}
	link := s.o.PublicURL + "/signup?invitation=" + url.QueryEscape(tok.Reveal())
	if err := s.send(ctx, mail.Data{Kind: mail.KindInvitation, To: norm, Link: link, ExpiresIn: s.o.InvitationTTL, Roles: roles, Inviter: actor.Email}); err != nil {
		return Invitation{}, err
	}
	return Invitation{ID: t.ID, Email: norm, Roles: roles, Metadata: metadata, ExpiresAt: t.ExpiresAt}, nil
}

// NotifyLogin mails a new-device notice when this login comes from an IP
// and user agent the user has not signed in from before (R5, S18): dev is
// what the store found when it created sess. The first login of an
// account is not "new".
func (s *Service) NotifyLogin(ctx context.Context, u store.User, sess store.Session, dev store.Device) {
	if dev.Known || !dev.SeenBefore {
		return
	}
	s.later(ctx, "new_device", func(ctx context.Context) error {
		if err := s.send(ctx, mail.Data{Kind: mail.KindNewDevice, To: u.Email, Name: u.Name, IP: sess.IPAddress, UserAgent: sess.UserAgent, Time: sess.CreatedAt}); err != nil {
			return err
		}
		return s.st.AppendAudit(ctx, audit.MetaFrom(ctx).Event(EventNoticeSent, audit.Success, u.ID, map[string]any{"kind": mail.KindNewDevice}))
	})
}

// NotifyLocked tells the owner their account was locked (R3).
func (s *Service) NotifyLocked(ctx context.Context, u store.User, until time.Time) {
	s.later(ctx, "account_locked", func(ctx context.Context) error {
		if err := s.send(ctx, mail.Data{Kind: mail.KindAccountLocked, To: u.Email, Name: u.Name, Time: until, IP: audit.MetaFrom(ctx).IP}); err != nil {
			return err
		}
		return s.st.AppendAudit(ctx, audit.MetaFrom(ctx).Event(EventNoticeSent, audit.Success, u.ID, map[string]any{"kind": mail.KindAccountLocked}))
	})
}

// NotifySignupExisting tells the owner of an address that someone tried
// to sign up with it, instead of telling the requester (U11).
func (s *Service) NotifySignupExisting(ctx context.Context, email string) {
	s.later(ctx, "signup_existing", func(ctx context.Context) error {
		u, ok, err := s.lookup(ctx, email)
		if err != nil || !ok {
			return err
		}
		link := s.o.PublicURL + "/reset-password"
		if err := s.send(ctx, mail.Data{Kind: mail.KindSignupExisting, To: u.Email, Name: u.Name, Link: link}); err != nil {
			return err
		}
		return s.st.AppendAudit(ctx, audit.MetaFrom(ctx).Event(EventNoticeSent, audit.Success, u.ID, map[string]any{"kind": mail.KindSignupExisting}))
	})
}
