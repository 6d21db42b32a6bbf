package password

import (
	"context"
	"testing"
)

// BenchmarkHashDefault is one argon2id hash with DefaultParams: the cost of
// every signup, password change and (as Verify or VerifyDummy) login.
func BenchmarkHashDefault(b *testing.B) {
	h, err := NewHasher(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is logins through the default pool (one worker
// per CPU) from GOMAXPROCS goroutines: throughput of the whole machine.
func BenchmarkVerifyParallel(b *testing.B) {
	h, err := NewHasher(Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, _, err := h.Verify(ctx, "correct horse battery staple", enc)
			if err != nil || !ok {
				b.Fatalf("Verify = %v, %v", ok, err)
			}
		}
	})
}

// BenchmarkPolicyCheck is the linear scan of the embedded list for a
// password that is not on it (the worst case).
func BenchmarkPolicyCheck(b *testing.B) {
	p := DefaultPolicy()
	for b.Loop() {
		if err := p.Check("correct horse battery staple", "rajat.verma@example.com", "Rajat Verma"); err != nil {
			b.Fatal(err)
		}
	}
}
