package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// countingHasher wraps the real hasher and counts the argon2id work done,
// so tests can prove every login path costs one full verification.
type countingHasher struct {
	*password.Hasher
	verifies, dummies atomic.Int32
	saturated         atomic.Bool // when set, Busy refuses
}

func (c *countingHasher) Busy() error {
	if c.saturated.Load() {
		return &password.BusyError{RetryAfter: 3 * time.Second}
	}
	return c.Hasher.Busy()
}

func (c *countingHasher) Verify(ctx context.Context, pw, enc string) (bool, bool, error) {
	c.verifies.Add(1)
	return c.Hasher.Verify(ctx, pw, enc)
}

func (c *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	c.dummies.Add(1)
	return c.Hasher.VerifyDummy(ctx, pw)
}

type fixture struct {
	st  store.Store
	h   *countingHasher
	svc *identity.Service
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ph, err := password.NewHasher(password.Options{Params: password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	h := &countingHasher{Hasher: ph}
	return fixture{st: st, h: h, svc: identity.New(st, h, authz.NewRBAC(st), identity.Options{})}
}

const pw = "correct horse battery staple"

func TestEveryLoginFailureDoesEqualWork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, err := f.svc.Bootstrap(ctx, identity.NewUserInput{SignupInput: identity.SignupInput{Email: "admin@example.com", Password: pw}, Roles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Signup(ctx, identity.SignupInput{Email: "alice@test.com", Password: pw}); err != nil {
		t.Fatal(err)
	}
	bob, _ := f.svc.Signup(ctx, identity.SignupInput{Email: "bob@mail.com", Password: pw})
	if err := f.svc.SetStatus(ctx, admin, bob.ID, store.UserSuspended); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, email, pw string }{
		{"unknown user", "nobody@example.com", pw},
		{"invalid email", "nope", pw},
		{"wrong password", "alice@test.com", "wrong password"},
		{"suspended", "bob@mail.com", pw},
	}
	for _, c := range cases {
		before := f.h.verifies.Load() + f.h.dummies.Load()
		_, err := f.svc.Login(ctx, c.email, c.pw)
		if !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("%s: err %v", c.name, err)
		}
		if work := f.h.verifies.Load() + f.h.dummies.Load() - before; work != 1 {
			t.Fatalf("%s: %d hash verifications, want exactly 1 (L6-L8)", c.name, work)
		}
	}
	if f.h.dummies.Load() != 3 {
		t.Fatalf("dummy verifications %d, want 3 (unknown, invalid, suspended)", f.h.dummies.Load())
	}
}

func TestImportAndUpgrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bc, _ := bcrypt.GenerateFromPassword([]byte("mySecurePassword123"), 4)
	lines := strings.Join([]string{
		`{"email":"Sample@Sample.com","password_hash":"` + string(bc) + `","name":"Sample"}`,
		`{"email":"legacy@example.com","salt":"s4lt","legacy_hmac":"` + strings.TrimPrefix(password.LegacyHMAC("s4lt", "Sample!kdew"), "hmac-sha256$s4lt$") + `","first_name":"Leg","last_name":"Acy"}`,
		`{"email":"inline@example.com","password_hash":"` + password.LegacyHMAC("pepper", "another pass phrase") + `"}`,
		`# comments and blank lines are skipped`,
		``,
		`{"email":"bad-hash@example.com","password_hash":"md5$abc"}`,
		`{"email":"sample@sample.com","password_hash":"` + string(bc) + `"}`,
		`not json`,
		`{"email":"x@example.com","password_hash":"` + string(bc) + `","roles":["god"]}`,
	}, "\n")
	res, err := f.svc.Import(ctx, strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 3 || res.Skipped != 4 || len(res.Errors) != 4 {
		t.Fatalf("import result %+v", res)
	}
	for _, e := range res.Errors {
		if strings.Contains(e, "$2") || strings.Contains(e, "pepper") {
			t.Fatalf("import error leaks a hash: %s", e)
		}
	}
	logins := []struct{ email, pw string }{
		{"sample@sample.com", "mySecurePassword123"},
		{"legacy@example.com", "Sample!kdew"},
		{"inline@example.com", "another pass phrase"},
	}
	for _, l := range logins {
		if _, err := f.svc.Login(ctx, l.email, "wrong"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("%s accepted a wrong password: %v", l.email, err)
		}
		u, err := f.svc.Login(ctx, l.email, l.pw)
		if err != nil {
			t.Fatalf("%s: %v", l.email, err)
		}
		stored, _ := f.st.GetUser(ctx, u.ID)
		if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
			t.Fatalf("%s not upgraded to argon2id at login: %.10s", l.email, stored.PasswordHash)
		}
		if _, err := f.svc.Login(ctx, l.email, l.pw); err != nil {
			t.Fatalf("%s after upgrade: %v", l.email, err)
		}
	}
	u, _ := f.st.GetUserByEmail(ctx, "legacy@example.com")
	if u.Name != "Leg Acy" || len(u.Roles) != 1 || u.Roles[0] != "viewer" {
		t.Fatalf("imported profile %+v", u)
	}
}

// TestRehashOnParameterChange: a hash made with other argon2id parameters
// is replaced at the next successful login (P1).
func TestRehashOnParameterChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old, _ := password.NewHasher(password.Options{Params: password.Params{Memory: 32, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	h, _ := old.Hash(ctx, pw)
	if err := f.st.CreateUser(ctx, &store.User{Email: "p@example.com", EmailNormalized: "p@example.com", PasswordHash: h}, []string{"viewer"}, nil); err != nil {
		t.Fatal(err)
	}
	u, err := f.svc.Login(ctx, "p@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.st.GetUser(ctx, u.ID)
	if stored.PasswordHash == h || !strings.Contains(stored.PasswordHash, "m=64,t=1,p=1") {
		t.Fatalf("hash not upgraded: %s", stored.PasswordHash)
	}
}

// fakeRoles lets a test define what roles grant without the store.
type fakeRoles map[string][]string

func (f fakeRoles) RoleExists(_ context.Context, n string) (bool, error) {
	_, ok := f[n]
	return ok, nil
}
func (f fakeRoles) Permissions(_ context.Context, roles []string) ([]string, error) {
	var out []string
	for _, r := range roles {
		out = append(out, f[r]...)
	}
	return out, nil
}

func TestNoEscalation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	roles := fakeRoles{"admin": {"a", "b", "c"}, "viewer": {"a"}, "editor": {"a", "b"}}
	svc := identity.New(f.st, f.h, roles, identity.Options{})
	manager := store.User{ID: "m", Roles: []string{"editor"}}
	u, err := svc.Create(ctx, manager, identity.NewUserInput{SignupInput: identity.SignupInput{Email: "x@example.com", Password: pw}, Roles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetRoles(ctx, manager, u.ID, []string{"admin"}); !errors.Is(err, identity.ErrEscalation) {
		t.Fatalf("granting admin as editor: %v, want ErrEscalation (Z10)", err)
	}
	if _, err := svc.SetRoles(ctx, manager, u.ID, []string{"editor"}); err != nil {
		t.Fatalf("granting own role: %v", err)
	}
}

// TestLoginRefusedAtOnceWhenHashingIsSaturated: with every worker busy
// and the queue full, a login is refused with ErrBusy (429) before any
// lookup or hash, the same for a known and an unknown address, and it is
// not recorded as a failed login (nothing was checked).
func TestLoginRefusedAtOnceWhenHashingIsSaturated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Signup(ctx, identity.SignupInput{Email: "john@example.com", Password: pw}); err != nil {
		t.Fatal(err)
	}
	f.h.saturated.Store(true)
	v, d := f.h.verifies.Load(), f.h.dummies.Load()
	for _, email := range []string{"john@example.com", "nobody@example.com", "not an address"} {
		_, err := f.svc.Login(ctx, email, pw)
		if !errors.Is(err, password.ErrBusy) {
			t.Fatalf("login %q with the pool saturated: %v, want ErrBusy", email, err)
		}
		if got := password.RetryAfter(err); got != 3*time.Second {
			t.Fatalf("login %q refused with advice %v, want the pool's 3s", email, got)
		}
	}
	if f.h.verifies.Load() != v || f.h.dummies.Load() != d {
		t.Fatal("a refused login still hashed")
	}
	evs, err := f.st.ListAudit(ctx, store.AuditQuery{Type: "login.failed", Limit: 10})
	if err != nil || len(evs) != 0 {
		t.Fatalf("refused logins recorded as failures: %v %v", evs, err)
	}
	f.h.saturated.Store(false)
	if _, err := f.svc.Login(ctx, "john@example.com", pw); err != nil {
		t.Fatalf("login once the pool has room: %v", err)
	}
}
