package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Reference vectors of the Argon2 reference implementation
// (phc-winner-argon2 src/test.c), salt "somesalt".
var referenceArgon2id = []struct {
	password, encoded string
}{
	{"password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
	{"password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
	{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{"differentpassword", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"},
}

func TestVerifyReferenceVectors(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	for _, v := range referenceArgon2id {
		ok, rehash, err := h.Verify(ctx, v.password, v.encoded)
		if err != nil || !ok || !rehash {
			t.Errorf("Verify(%q, %s) = %v, %v, %v; want true, true (params differ), nil", v.password, v.encoded, ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, v.password+"x", v.encoded)
		if err != nil || ok {
			t.Errorf("Verify(wrong, %s) = %v, %v; want false, nil", v.encoded, ok, err)
		}
		if !IsSupportedHash(v.encoded) {
			t.Errorf("IsSupportedHash(%s) = false", v.encoded)
		}
	}
}

// TestEncodeMatchesReference checks the writer against the same vector.
func TestEncodeMatchesReference(t *testing.T) {
	const want = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	parsed, err := parseArgon2id(want, DefaultMaxMemory)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeArgon2id(parsed.params, parsed.salt, parsed.key); got != want {
		t.Fatalf("encode = %s, want %s", got, want)
	}
	if string(parsed.salt) != "somesalt" || parsed.params.KeyLen != 32 || parsed.params.SaltLen != 8 {
		t.Fatalf("parsed = %+v", parsed.params)
	}
}

func TestVerifyBcrypt(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	raw, err := bcrypt.GenerateFromPassword([]byte("secret123"), 4)
	if err != nil {
		t.Fatal(err)
	}
	a := string(raw)
	if !strings.HasPrefix(a, "$2a$04$") {
		t.Fatalf("unexpected bcrypt prefix in %s", a)
	}
	for _, variant := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := variant + a[4:]
		t.Run(variant, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, "secret123", enc)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(ctx, "secret124", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
			if !IsSupportedHash(enc) {
				t.Fatal("IsSupportedHash = false")
			}
		})
	}
}

func TestLegacyHMAC(t *testing.T) {
	// RFC 4231-style known answer (key "key"): proves key = salt, message = password.
	const want = "hmac-sha256$key$f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got := LegacyHMAC("key", "The quick brown fox jumps over the lazy dog"); got != want {
		t.Fatalf("LegacyHMAC = %s, want %s", got, want)
	}

	h := newTestHasher(t, Options{})
	ctx := context.Background()
	tests := []struct {
		name, password, encoded string
		ok                      bool
	}{
		{"right", "secret123", LegacyHMAC("s4lt", "secret123"), true},
		{"wrong", "secret124", LegacyHMAC("s4lt", "secret123"), false},
		{"other salt", "secret123", strings.Replace(LegacyHMAC("s4lt", "secret123"), "s4lt", "s4lu", 1), false},
		{"salt with $", "secret123", LegacyHMAC("a$b", "secret123"), true},
		{"upper-case hex", "secret123", "hmac-sha256$s4lt$" + strings.ToUpper(strings.TrimPrefix(LegacyHMAC("s4lt", "secret123"), "hmac-sha256$s4lt$")), true},
		{"empty password", "", LegacyHMAC("s4lt", ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.password, tt.encoded)
			if err != nil || ok != tt.ok || rehash != tt.ok {
				t.Fatalf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.ok)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	const (
		salt = "c29tZXNhbHQ"
		key  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	)
	argon := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	bc, err := bcrypt.GenerateFromPassword([]byte("x"), 4)
	if err != nil {
		t.Fatal(err)
	}
	bcBody := string(bc[7:]) // 53 characters of salt and hash
	hex64 := strings.Repeat("ab", 32)

	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrUnknownFormat},
		{"plain text", "hunter2", ErrUnknownFormat},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnknownFormat},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnknownFormat},
		{"md5 crypt", "$1$saltsalt$abcdefghijklmnopqrstuv", ErrUnknownFormat},
		{"too long", "$argon2id$" + strings.Repeat("A", 5000), ErrMalformedHash},
		{"too long bcrypt", "$2a$" + strings.Repeat("A", 5000), ErrMalformedHash},
		{"too long unknown", strings.Repeat("A", 5000), ErrUnknownFormat},

		{"argon2id prefix only", "$argon2id$", ErrMalformedHash},
		{"argon2id no key", "$argon2id$v=19$m=256,t=2,p=1$" + salt, ErrMalformedHash},
		{"argon2id extra field", argon("m=256,t=2,p=1") + "$x", ErrMalformedHash},
		{"argon2id no version", "$argon2id$m=256,t=2,p=1$" + salt + "$" + key + "$", ErrMalformedHash},
		{"argon2id version 16", "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupportedParams},
		{"argon2id version leading zero", "$argon2id$v=019$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"argon2id version empty", "$argon2id$v=$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"leading zero", argon("m=0256,t=2,p=1"), ErrMalformedHash},
		{"plus sign", argon("m=+256,t=2,p=1"), ErrMalformedHash},
		{"minus sign", argon("m=256,t=-2,p=1"), ErrMalformedHash},
		{"empty value", argon("m=,t=2,p=1"), ErrMalformedHash},
		{"wrong order", argon("t=2,m=256,p=1"), ErrMalformedHash},
		{"missing p", argon("m=256,t=2"), ErrMalformedHash},
		{"extra param", argon("m=256,t=2,p=1,k=1"), ErrMalformedHash},
		{"spaces", argon("m=256, t=2, p=1"), ErrMalformedHash},
		{"t=0", argon("m=256,t=0,p=1"), ErrUnsupportedParams},
		{"p=0", argon("m=256,t=2,p=0"), ErrUnsupportedParams},
		{"t=101", argon("m=256,t=101,p=1"), ErrUnsupportedParams},
		{"p=65", argon("m=1024,t=1,p=65"), ErrUnsupportedParams},
		{"p=256 overflows uint8", argon("m=4096,t=1,p=256"), ErrUnsupportedParams},
		{"m overflows uint32", argon("m=4294967296,t=1,p=1"), ErrUnsupportedParams},
		{"m huge digits", argon("m=99999999999999999999999999,t=1,p=1"), ErrUnsupportedParams},
		{"m above 1 GiB", argon("m=1048577,t=1,p=1"), ErrUnsupportedParams},
		{"m below 8 per lane", argon("m=8,t=1,p=2"), ErrUnsupportedParams},
		{"m*t too much work", argon("m=1048576,t=5,p=1"), ErrUnsupportedParams},
		{"salt too short", "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$" + key, ErrUnsupportedParams},
		{"salt too long", "$argon2id$v=19$m=256,t=2,p=1$" + strings.Repeat("A", 1400) + "$" + key, ErrUnsupportedParams},
		{"key too short", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$c29tZQ", ErrUnsupportedParams},
		{"padded key", argon("m=256,t=2,p=1") + "=", ErrMalformedHash},
		{"non-canonical salt bits", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + key, ErrMalformedHash},
		{"url-safe alphabet", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"), ErrMalformedHash},
		{"empty salt", "$argon2id$v=19$m=256,t=2,p=1$$" + key, ErrUnsupportedParams},

		{"bcrypt short", "$2a$10$short", ErrMalformedHash},
		{"bcrypt no minor", "$2$10$" + bcBody, ErrMalformedHash},
		{"bcrypt 2x", "$2x$04$" + bcBody, ErrUnsupportedParams},
		{"bcrypt cost 3", "$2a$03$" + bcBody, ErrUnsupportedParams},
		{"bcrypt cost 15", "$2a$15$" + bcBody, ErrUnsupportedParams},
		{"bcrypt cost 31", "$2b$31$" + bcBody, ErrUnsupportedParams},
		{"bcrypt cost letters", "$2a$1a$" + bcBody, ErrMalformedHash},
		{"bcrypt bad char", "$2a$04$" + bcBody[:52] + "!", ErrMalformedHash},
		{"bcrypt too long", "$2a$04$" + bcBody + "A", ErrMalformedHash},
		{"bcrypt missing $", "$2a$04x" + bcBody, ErrMalformedHash},

		{"legacy empty", "hmac-sha256$", ErrMalformedHash},
		{"legacy no salt separator", "hmac-sha256$" + hex64, ErrMalformedHash},
		{"legacy empty salt", "hmac-sha256$$" + hex64, ErrMalformedHash},
		{"legacy short hex", "hmac-sha256$salt$abcd", ErrMalformedHash},
		{"legacy non-hex", "hmac-sha256$salt$" + strings.Repeat("zz", 32), ErrMalformedHash},
		{"legacy salt too long", "hmac-sha256$" + strings.Repeat("s", 1025) + "$" + hex64, ErrMalformedHash},
	}
	h := newTestHasher(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "password", tt.encoded)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if ok || rehash {
				t.Fatalf("Verify = %v, %v with an error", ok, rehash)
			}
			if len(tt.encoded) > 8 && strings.Contains(err.Error(), tt.encoded) {
				t.Fatalf("error echoes the stored hash: %v", err)
			}
			if IsSupportedHash(tt.encoded) {
				t.Fatal("IsSupportedHash = true")
			}
		})
	}
}

func TestIsSupportedHashDefaults(t *testing.T) {
	// 1 GiB is accepted by default (without hashing), even though the test
	// Hasher with a small MaxMemory would refuse it.
	big := "$argon2id$v=19$m=1048576,t=1,p=4$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	if !IsSupportedHash(big) {
		t.Fatal("1 GiB argon2id hash rejected by IsSupportedHash")
	}
	h := newTestHasher(t, Options{MaxMemory: 1024})
	if _, _, err := h.Verify(context.Background(), "x", big); !errors.Is(err, ErrUnsupportedParams) {
		t.Fatalf("Verify with MaxMemory 1024 = %v, want ErrUnsupportedParams", err)
	}
	if !IsSupportedHash(LegacyHMAC("salt", "pw")) {
		t.Fatal("legacy rejected")
	}
}
