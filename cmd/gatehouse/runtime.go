package main

import (
	"os"
	"slices"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// runtimeEnv returns the environment to re-execute `gatehouse serve` with
// (app.RuntimeEnviron), or nil when no re-execution is needed: another
// command, GODEBUG already sets madvdontneed, or
// GATEHOUSE_RUNTIME_DEFAULTS=0.
func runtimeEnv(args, environ []string) []string {
	if len(args) < 2 || args[1] != "serve" || slices.Contains(environ, "GATEHOUSE_RUNTIME_DEFAULTS=0") {
		return nil
	}
	env, changed := app.RuntimeEnviron(environ, nil)
	if !changed {
		return nil
	}
	return env
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
