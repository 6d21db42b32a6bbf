package password

import (
	"strings"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	def := DefaultParams()
	with := func(f func(*Params)) Params {
		p := def
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    Params
		want []string // substrings of the error; nil means valid
	}{
		{"default", def, nil},
		{"owasp m=47104 t=1", with(func(p *Params) { p.Memory, p.Iterations = 47104, 1 }), nil},
		{"memory too low", with(func(p *Params) { p.Memory = 10 }), []string{"password: memory 10 KiB is below 8192"}},
		{"memory too high", with(func(p *Params) { p.Memory = 1<<20 + 1 }), []string{"memory 1048577 KiB is above 1048576"}},
		{"no iterations", with(func(p *Params) { p.Iterations = 0 }), []string{"iterations 0 is below 1"}},
		{"too many iterations", with(func(p *Params) { p.Iterations = 101 }), []string{"iterations 101 is above 100"}},
		{"work too high", with(func(p *Params) { p.Memory, p.Iterations = 1<<20, 5 }), []string{"memory x iterations"}},
		{"no lanes", with(func(p *Params) { p.Parallelism = 0 }), []string{"parallelism 0 is below 1"}},
		{"too many lanes", with(func(p *Params) { p.Parallelism = 65 }), []string{"parallelism 65 is above 64"}},
		{"short salt", with(func(p *Params) { p.SaltLen = 8 }), []string{"salt length 8 bytes is below 16"}},
		{"long key", with(func(p *Params) { p.KeyLen = 2000 }), []string{"key length 2000 bytes is above 1024"}},
		{"zero value reports every field", Params{}, []string{"memory 0", "iterations 0", "parallelism 0", "salt length 0", "key length 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestHardLimitsAllowCheapButComputableParams(t *testing.T) {
	ok := Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLen: 8, KeyLen: 8}
	if err := ok.check(hardLimits(1024)); err != nil {
		t.Fatalf("cheap params rejected: %v", err)
	}
	bad := Params{Memory: 8, Iterations: 1, Parallelism: 2, SaltLen: 8, KeyLen: 8}
	if err := bad.check(hardLimits(1024)); err == nil || !strings.Contains(err.Error(), "8 KiB per lane") {
		t.Fatalf("memory below 8 KiB per lane: got %v", err)
	}
	if err := ok.Validate(); err == nil {
		t.Fatal("cheap params pass the production floor")
	}
}
