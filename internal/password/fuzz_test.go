package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// FuzzVerify feeds arbitrary stored hashes and passwords to Verify. It must
// never panic, must return a parse error or an answer, and must stay within
// the cost limits. The Hasher's MaxMemory is 1 MiB and bcrypt cost at most
// 6 so that whatever the fuzzer finds stays cheap to compute; the limits
// themselves are the same code as in production.
func FuzzVerify(f *testing.F) {
	h := newTestHasher(f, Options{MaxMemory: 1024})
	h.limits.maxBcryptCost = 6
	ctx := context.Background()

	own, err := h.Hash(ctx, "secret123")
	if err != nil {
		f.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("secret123"), 4)
	if err != nil {
		f.Fatal(err)
	}
	seeds := []struct{ password, encoded string }{
		{"secret123", own},
		{"password", referenceArgon2id[0].encoded},
		{"password", referenceArgon2id[1].encoded},
		{"secret123", string(bc)},
		{"secret123", "$2y$" + string(bc[4:])},
		{"secret123", LegacyHMAC("s4lt", "secret123")},
		{"x", LegacyHMAC("a$b$c", "x")},
		{"", ""},
		{"garbage", "garbage"},
		{"x", "$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAA"},
		{"x", "$argon2id$v=19$m=1024,t=100,p=64$AAAAAAAAAAA$AAAAAAAAAAA"},
		{"x", "$argon2id$v=19$m=,t=,p=$$"},
		{"x", "$2a$99$" + strings.Repeat(".", 53)},
		{"x", "hmac-sha256$$"},
	}
	for _, s := range seeds {
		f.Add(s.password, s.encoded)
	}

	f.Fuzz(func(t *testing.T, password, encoded string) {
		start := time.Now()
		ok, rehash, err := h.Verify(ctx, password, encoded)
		elapsed := time.Since(start)

		if err != nil {
			if ok || rehash {
				t.Fatalf("Verify = %v, %v with error %v", ok, rehash, err)
			}
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedParams) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(encoded) >= 16 && strings.Contains(err.Error(), encoded) {
				t.Fatalf("error echoes the stored hash: %v", err)
			}
		} else if !IsSupportedHash(encoded) {
			// Default limits are wider than the fuzz Hasher's, so anything
			// Verify computed must also pass IsSupportedHash.
			t.Fatalf("Verify accepted a hash IsSupportedHash rejects")
		}
		if rehash && !ok {
			t.Fatal("needsRehash without ok")
		}
		// The parse limits cap one computation at about 1 MiB x 100
		// passes or bcrypt cost 6: milliseconds. The bound is loose for
		// slow shared machines and the race detector.
		if elapsed > 10*time.Second {
			t.Fatalf("Verify took %v", elapsed)
		}
	})
}
