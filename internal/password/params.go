package password

import (
	"errors"
	"fmt"
)

// Params are argon2id parameters. Memory is in KiB; SaltLen and KeyLen are in
// bytes. The parameters travel inside every hash, so changing them never
// breaks existing hashes: Verify reports needsRehash instead.
type Params struct {
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultParams returns the OWASP recommendation for argon2id: 19 MiB of
// memory, 2 iterations, 1 lane, a 16-byte salt and a 32-byte key. One hash
// takes about 56 ms on the reference machine.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on argon2id parameters.
//
// The production floor (Validate) is what configuration must meet. The hard
// limits are what Verify accepts from a stored hash: wide enough for hashes
// made by other argon2id implementations, narrow enough that a hostile hash
// cannot make one verification cost more than MaxMemory of RAM and a few
// seconds of CPU.
const (
	// DefaultMaxMemory is the default for Options.MaxMemory: 1 GiB in KiB.
	DefaultMaxMemory uint32 = 1 << 20

	minProductionMemory  uint32 = 8192 // 8 MiB
	minProductionSaltLen uint32 = 16
	minProductionKeyLen  uint32 = 16

	maxIterations  uint32 = 100
	maxParallelism uint8  = 64
	minSaltKeyLen  uint32 = 8
	maxSaltKeyLen  uint32 = 1024

	// maxWork bounds Memory*Iterations in KiB, the CPU cost of one hash:
	// 4 GiB of passes over memory, e.g. 1 GiB x 4 or 64 MiB x 64 (a few
	// seconds). DefaultParams are 19 MiB x 2.
	maxWork uint64 = 1 << 22
)

// limits are the bounds a set of argon2id parameters is checked against.
type limits struct {
	minMemory  uint32 // besides the structural minimum of 8 KiB per lane
	maxMemory  uint32
	minSaltLen uint32
	minKeyLen  uint32
}

// productionLimits is the floor Validate enforces.
func productionLimits() limits {
	return limits{
		minMemory:  minProductionMemory,
		maxMemory:  DefaultMaxMemory,
		minSaltLen: minProductionSaltLen,
		minKeyLen:  minProductionKeyLen,
	}
}

// hardLimits are the bounds for parameters read from a stored hash, and for
// Options.AllowWeakParams: anything argon2id can compute within maxMemory.
func hardLimits(maxMemory uint32) limits {
	return limits{maxMemory: maxMemory, minSaltLen: minSaltKeyLen, minKeyLen: minSaltKeyLen}
}

// Validate reports whether p is fit for production: at least 8 MiB of
// memory and at most 1 GiB, 1 to 100 iterations, Memory*Iterations at most
// 4 GiB, 1 to 64 lanes, a salt and key of 16 to 1024 bytes. Every problem is reported, each in a sentence an
// operator can act on, e.g. "password: memory 10 KiB is below 8192".
func (p Params) Validate() error {
	return p.check(productionLimits())
}

// check reports every way p falls outside l, joined into one error.
func (p Params) check(l limits) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("password: "+format, args...))
	}
	if p.Memory < l.minMemory {
		add("memory %d KiB is below %d", p.Memory, l.minMemory)
	}
	if p.Memory > l.maxMemory {
		add("memory %d KiB is above %d", p.Memory, l.maxMemory)
	}
	if p.Parallelism < 1 {
		add("parallelism %d is below 1", p.Parallelism)
	}
	if p.Parallelism > maxParallelism {
		add("parallelism %d is above %d", p.Parallelism, maxParallelism)
	}
	if minMem := 8 * uint32(p.Parallelism); p.Parallelism >= 1 && p.Memory < minMem {
		add("memory %d KiB is below 8 KiB per lane (%d KiB for parallelism %d)", p.Memory, minMem, p.Parallelism)
	}
	if p.Iterations < 1 {
		add("iterations %d is below 1", p.Iterations)
	}
	if p.Iterations > maxIterations {
		add("iterations %d is above %d", p.Iterations, maxIterations)
	}
	if w := uint64(p.Memory) * uint64(p.Iterations); w > maxWork {
		add("memory x iterations %d KiB is above %d (lower memory or iterations)", w, maxWork)
	}
	if p.SaltLen < l.minSaltLen {
		add("salt length %d bytes is below %d", p.SaltLen, l.minSaltLen)
	}
	if p.SaltLen > maxSaltKeyLen {
		add("salt length %d bytes is above %d", p.SaltLen, maxSaltKeyLen)
	}
	if p.KeyLen < l.minKeyLen {
		add("key length %d bytes is below %d", p.KeyLen, l.minKeyLen)
	}
	if p.KeyLen > maxSaltKeyLen {
		add("key length %d bytes is above %d", p.KeyLen, maxSaltKeyLen)
	}
	return errors.Join(errs...)
}
