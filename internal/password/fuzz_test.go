package password

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
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

// FuzzServeWorker feeds a hash worker arbitrary input: it must answer
// exactly the x/crypto key of each complete in-bounds request, end with an
// error at the first bad or cut one, and never panic. The memory bound is
// small so that no input makes the fuzzer hash for long.
func FuzzServeWorker(f *testing.F) {
	f.Add(workerRequestBytes([]byte("pw"), []byte("salt-salt"), Params{Memory: 32, Iterations: 1, Parallelism: 1, KeyLen: 16}))
	f.Add(append(workerRequestBytes(nil, nil, Params{Memory: 8, Iterations: 1, Parallelism: 1, KeyLen: 4}), 1, 2, 3))
	f.Add([]byte{})
	f.Add(make([]byte, workerHeaderLen))
	const maxMemory = 64
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		err := ServeWorker(bytes.NewReader(in), &out, maxMemory)
		// Replay the stream: every complete in-bounds request before the
		// first bad one must have its exact key in the output.
		var want []byte
		rest := in
		for len(rest) >= workerHeaderLen {
			u := func(i int) uint32 { return binary.LittleEndian.Uint32(rest[4*i:]) }
			pwLen, saltLen, tm, m, lanes, keyLen := u(0), u(1), u(2), u(3), u(4), u(5)
			if pwLen > workerMaxPassword || saltLen > workerMaxSalt || keyLen == 0 || keyLen > workerMaxKey ||
				tm == 0 || tm > workerMaxTime || lanes == 0 || lanes > workerMaxLanes || m < 8*lanes || m > maxMemory ||
				uint64(len(rest)) < uint64(workerHeaderLen)+uint64(pwLen)+uint64(saltLen) {
				break
			}
			body := rest[workerHeaderLen:]
			want = append(want, argon2.IDKey(body[:pwLen], body[pwLen:pwLen+saltLen], tm, m, uint8(lanes), keyLen)...)
			rest = body[pwLen+saltLen:]
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("worker answered %d bytes, want %d", out.Len(), len(want))
		}
		if (len(rest) == 0) != (err == nil) {
			t.Fatalf("worker error %v with %d bytes left unparsed", err, len(rest))
		}
	})
}
