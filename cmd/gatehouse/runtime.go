package main

import (
	"os"
	"strings"
)

// godebugDefault is the Go runtime setting the server runs with unless the
// operator chose otherwise in GODEBUG.
//
// madvdontneed=0 makes the runtime hand freed heap memory back to Linux
// with MADV_FREE instead of MADV_DONTNEED. Every password hash allocates
// and frees its argon2id memory (19 MiB by default); with MADV_DONTNEED the
// background scavenger returns those pages after each GC and the next hash
// faults them in again, page by page. Measured with gatehouse-bench on 2
// cores: login throughput 80 -> 92-95 per second and p99 130-144 ms ->
// 58-76 ms with 4 clients (docs/BENCHMARKS.md). The cost is that RSS
// counts freed pages until the kernel needs them.
const godebugDefault = "madvdontneed=0"

// runtimeEnv returns the environment to re-execute `gatehouse serve` with,
// or nil when no re-execution is needed: another command, GODEBUG already
// sets madvdontneed, or GATEHOUSE_RUNTIME_DEFAULTS=0.
func runtimeEnv(args, environ []string) []string {
	if len(args) < 2 || args[1] != "serve" {
		return nil
	}
	// The first GODEBUG entry is the one in force; later ones are dropped
	// so the new process sees exactly it plus the default.
	godebug, seen := "", false
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		switch {
		case kv == "GATEHOUSE_RUNTIME_DEFAULTS=0":
			return nil
		case strings.HasPrefix(kv, "GODEBUG="):
			if !seen {
				godebug, seen = strings.TrimPrefix(kv, "GODEBUG="), true
			}
			continue
		}
		out = append(out, kv)
	}
	for _, setting := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(setting), "madvdontneed=") {
			return nil
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+godebugDefault)
}

// withRuntimeDefaults re-executes this binary with runtimeEnv's
// environment, once (the new process finds the setting and goes on). It
// returns only if there is nothing to do or the re-execution failed, in
// which case the server runs with the Go defaults.
func withRuntimeDefaults(exec func(path string, argv, env []string) error) {
	env := runtimeEnv(os.Args, os.Environ())
	if env == nil {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = exec(exe, os.Args, env)
}
