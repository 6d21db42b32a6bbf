package keyset

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// memStore is the two-method store boundary, in memory. The real stores
// are tested by storetest.
type memStore struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (m *memStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.SigningKey, len(m.keys))
	for i, k := range m.keys {
		k.PrivateKey = bytes.Clone(k.PrivateKey)
		out[i] = k
	}
	return out, nil
}

func (m *memStore) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.keys {
		if e.KID == k.KID {
			return store.ErrConflict
		}
	}
	c := *k
	c.PrivateKey = bytes.Clone(k.PrivateKey)
	m.keys = append(m.keys, c)
	return nil
}

var _ Store = (*memStore)(nil)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustMaster(t testing.TB) MasterKey {
	t.Helper()
	mk, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

func TestNewCreatesThenReuses(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			st, mk := &memStore{}, mustMaster(t)
			s1, err := New(ctx, st, mk, Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.keys) != 1 {
				t.Fatalf("want 1 stored key, got %d", len(st.keys))
			}
			row := st.keys[0]
			if row.KID != s1.Active().KID || row.Algorithm != alg || string(s1.Active().Algorithm) != alg {
				t.Fatalf("stored %s/%s, active %v", row.KID, row.Algorithm, s1.Active())
			}
			if _, err := x509.ParsePKCS8PrivateKey(row.PrivateKey); err == nil {
				t.Fatal("private key stored in clear")
			}
			if strings.Contains(row.PublicJWK, `"d"`) {
				t.Fatalf("public JWK carries private part: %s", row.PublicJWK)
			}

			s2, err := New(ctx, st, mk, Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.keys) != 1 || s2.Active().KID != s1.Active().KID {
				t.Fatalf("second New did not reuse the key: %d keys, %s vs %s", len(st.keys), s2.Active().KID, s1.Active().KID)
			}
			jwks := s2.JWKS()
			if len(jwks.Keys) != 1 {
				t.Fatalf("want 1 published key, got %d", len(jwks.Keys))
			}
			k := jwks.Keys[0]
			if k.KeyID != row.KID || k.Algorithm != alg || k.Use != "sig" || !k.IsPublic() {
				t.Fatalf("published key %+v", k)
			}
			if _, ok := s2.PublicKey(row.KID); !ok {
				t.Fatal("PublicKey does not find the active kid")
			}
			if _, ok := s2.PublicKey("nope"); ok {
				t.Fatal("PublicKey found an unknown kid")
			}
		})
	}
}

func TestNewRotatesWhenAlgorithmChanges(t *testing.T) {
	ctx := context.Background()
	st, mk := &memStore{}, mustMaster(t)
	s1, err := New(ctx, st, mk, Options{Algorithm: EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(ctx, st, mk, Options{Algorithm: ES256})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Active().Algorithm != ES256 || len(s2.JWKS().Keys) != 2 {
		t.Fatalf("active %v, %d published", s2.Active(), len(s2.JWKS().Keys))
	}
	if _, ok := s2.PublicKey(s1.Active().KID); !ok {
		t.Fatal("old key no longer published")
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mangle func(st *memStore, mk MasterKey) MasterKey
		want   string
		is     error
	}{
		{
			name:   "wrong master key",
			mangle: func(st *memStore, mk MasterKey) MasterKey { return mustMaster(t) },
			want:   "keyset: cannot decrypt signing key %s: wrong master key?",
			is:     ErrWrongMasterKey,
		},
		{
			name: "ciphertexts swapped between rows",
			mangle: func(st *memStore, mk MasterKey) MasterKey {
				st.keys[0].PrivateKey, st.keys[1].PrivateKey = st.keys[1].PrivateKey, st.keys[0].PrivateKey
				return mk
			},
			want: "keyset: cannot decrypt signing key",
			is:   ErrWrongMasterKey,
		},
		{
			name: "public JWK replaced",
			mangle: func(st *memStore, mk MasterKey) MasterKey {
				st.keys[1].PublicJWK = st.keys[0].PublicJWK
				return mk
			},
			want: "does not match the private key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, mk := &memStore{}, mustMaster(t)
			s, err := New(ctx, st, mk, Options{Algorithm: EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			mk2 := tt.mangle(st, mk)
			_, err = New(ctx, st, mk2, Options{Algorithm: EdDSA})
			want := tt.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, s.Active().KID)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, not %v", err, tt.is)
			}
		})
	}
}

func TestRotateAndRetire(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st, mk := &memStore{}, mustMaster(t)
	opts := Options{Algorithm: EdDSA, Now: clk.Now, RetireAfter: time.Hour}
	s, err := New(ctx, st, mk, opts)
	if err != nil {
		t.Fatal(err)
	}
	replica, err := New(ctx, st, mk, opts)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := s.Active().KID

	newKID, err := s.Rotate(ctx) // same instant: must still sort after the old key
	if err != nil {
		t.Fatal(err)
	}
	if newKID == oldKID || s.Active().KID != newKID {
		t.Fatalf("rotate: old %s new %s active %s", oldKID, newKID, s.Active().KID)
	}
	if got := kids(s); got != newKID+","+oldKID {
		t.Fatalf("JWKS kids %s", got)
	}

	// The replica learns of the rotation on Reload.
	if replica.Active().KID != oldKID {
		t.Fatal("replica changed without reload")
	}
	if err := replica.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if replica.Active().KID != newKID || kids(replica) != kids(s) {
		t.Fatalf("replica after reload: active %s, kids %s", replica.Active().KID, kids(replica))
	}

	// Still published just before RetireAfter has passed since the
	// successor's creation (one second after the old key), gone after.
	clk.Add(time.Hour)
	if _, ok := s.PublicKey(oldKID); !ok {
		t.Fatal("old key gone too early")
	}
	clk.Add(2 * time.Second)
	if _, ok := s.PublicKey(oldKID); ok {
		t.Fatal("old key still resolvable after RetireAfter")
	}
	if got := kids(s); got != newKID {
		t.Fatalf("JWKS kids after RetireAfter: %s", got)
	}
	// A fresh load skips the expired key entirely.
	s3, err := New(ctx, st, mk, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Active().KID != newKID || kids(s3) != newKID {
		t.Fatalf("fresh set: active %s kids %s", s3.Active().KID, kids(s3))
	}
}

func TestExplicitlyRetiredKeyIsNotActive(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st, mk := &memStore{}, mustMaster(t)
	opts := Options{Algorithm: EdDSA, Now: clk.Now}
	s, err := New(ctx, st, mk, opts)
	if err != nil {
		t.Fatal(err)
	}
	retired := clk.Now()
	st.keys[0].RetiredAt = &retired
	clk.Add(time.Minute)
	s2, err := New(ctx, st, mk, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Active().KID == s.Active().KID || len(st.keys) != 2 || len(s2.JWKS().Keys) != 2 {
		t.Fatalf("explicitly retired key still active or not published: %d keys", len(st.keys))
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{{Algorithm: "HS256"}, {Algorithm: "none"}, {RSABits: 1024}, {RetireAfter: -time.Second}} {
		if _, err := New(context.Background(), &memStore{}, mustMaster(t), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := New(context.Background(), &memStore{}, MasterKey{}, Options{}); err == nil {
		t.Error("zero master key accepted")
	}
}

func TestConcurrentReadersAndRotate(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, &memStore{}, mustMaster(t), Options{Algorithm: EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				k := s.Active()
				if _, ok := s.PublicKey(k.KID); !ok {
					t.Error("active key not published")
					return
				}
				_ = s.JWKS()
			}
		})
	}
	for range 5 {
		if _, err := s.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func kids(s *Set) string {
	var ks []string
	for _, k := range s.JWKS().Keys {
		ks = append(ks, k.KeyID)
	}
	return strings.Join(ks, ",")
}

func TestParseMasterKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32) // encodes with '+'/'/' or '-'/'_'
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), true},
		{"raw std", base64.RawStdEncoding.EncodeToString(raw), true},
		{"url", base64.URLEncoding.EncodeToString(raw), true},
		{"raw url with newline", base64.RawURLEncoding.EncodeToString(raw) + "\n", true},
		{"short", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"long", base64.StdEncoding.EncodeToString(append(raw, 1)), false},
		{"not base64", "s3cr3t!value-that-is-not-base64??", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk, err := ParseMasterKey(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if s := strings.TrimSpace(tt.in); s != "" && strings.Contains(err.Error(), s) {
					t.Fatalf("error leaks the value: %v", err)
				}
				return
			}
			if mk.b != [32]byte(raw) {
				t.Fatal("wrong bytes")
			}
			if back, err := ParseMasterKey(mk.Encode().Reveal()); err != nil || back != mk {
				t.Fatal("Encode does not round-trip")
			}
		})
	}
}

func TestMasterKeyNeverPrints(t *testing.T) {
	mk, err := ParseMasterKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "mk", mk)
	j, _ := json.Marshal(struct{ M MasterKey }{mk})
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x %X %d %q", mk, mk, mk, mk, mk, mk, mk, mk),
		buf.String(), string(j), mk.Encode().String(),
	} {
		if strings.Contains(out, "171") || strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "q6ur") {
			t.Fatalf("master key leaked: %s", out)
		}
	}
}

func TestSealOpen(t *testing.T) {
	mk, other := mustMaster(t), mustMaster(t)
	plain := []byte("private key bytes")
	sealed, err := mk.Seal(plain, []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := mk.Seal(plain, []byte("kid-1"))
	if bytes.Equal(sealed, again) || bytes.Contains(sealed, plain) {
		t.Fatal("nonce reused or plaintext visible")
	}
	got, err := mk.Open(sealed, []byte("kid-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v %q", err, got)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		mk     MasterKey
		sealed []byte
		aad    string
	}{
		{"wrong aad", mk, sealed, "kid-2"},
		{"empty aad", mk, sealed, ""},
		{"wrong key", other, sealed, "kid-1"},
		{"tampered", mk, flipped, "kid-1"},
		{"truncated", mk, sealed[:20], "kid-1"},
		{"empty", mk, nil, "kid-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.mk.Open(tt.sealed, []byte(tt.aad)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
	if _, err := (MasterKey{}).Seal(plain, nil); err == nil {
		t.Fatal("zero master key sealed")
	}
}

func TestMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	mk, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	mk2, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || created || mk2 != mk {
		t.Fatalf("reuse: %v created=%v same=%v", err, created, mk2 == mk)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o620} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateMasterKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("mode %04o accepted: %v", mode, err)
			}
			if strings.Contains(err.Error(), mk.Encode().Reveal()) {
				t.Fatal("error leaks the key")
			}
		})
	}

	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("dG9vIHNob3J0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateMasterKeyFile(bad); err == nil {
		t.Fatal("short key file accepted")
	}
	if _, _, err := LoadOrCreateMasterKeyFile(filepath.Join(t.TempDir(), "missing", "master.key")); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestMasterKeyFileConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	var wg sync.WaitGroup
	keys := make([]MasterKey, 4)
	errs := make([]error, 4)
	for i := range keys {
		wg.Go(func() { keys[i], _, errs[i] = LoadOrCreateMasterKeyFile(path) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("racer %d: %v, same key %v", i, errs[i], keys[i] == keys[0])
		}
	}
}

// TestOnRotateTellsOtherReplicas: Rotate reports the new kid (the app
// publishes it so other replicas reload at once); the key New creates on
// an empty store is not reported.
func TestOnRotateTellsOtherReplicas(t *testing.T) {
	ctx := context.Background()
	st, mk := &memStore{}, mustMaster(t)
	var told []string
	s, err := New(ctx, st, mk, Options{Algorithm: EdDSA, OnRotate: func(kid string) { told = append(told, kid) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 0 {
		t.Fatalf("New reported %v", told)
	}
	kid, err := s.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0] != kid {
		t.Fatalf("Rotate to %s reported %v", kid, told)
	}
	other, err := New(ctx, st, mk, Options{Algorithm: EdDSA})
	if err != nil || other.Active().KID != kid {
		t.Fatalf("another replica's view after the rotation: %v %v", other.Active(), err)
	}
}
