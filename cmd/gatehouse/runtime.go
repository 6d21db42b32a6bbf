package main

import (
	"os"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// runtimeEnv returns the environment to re-execute `gatehouse serve` with
// (app.RuntimeGODEBUG), or nil when no re-execution is needed: another
// command, GODEBUG already sets madvdontneed, or
// GATEHOUSE_RUNTIME_DEFAULTS=0.
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
	godebug, changed := app.RuntimeGODEBUG(godebug)
	if !changed {
		return nil
	}
	return append(out, "GODEBUG="+godebug)
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
