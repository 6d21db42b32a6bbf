package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// childProfileEnv, set by -server-cpuprofile, turns a copy of this program
// started with "serve ..." into the Gatehouse server itself, profiled: the
// same app.Run that cmd/gatehouse calls, so the profile shows the server's
// own code path without the load generator in it and without changing the
// server.
const childProfileEnv = "GATEHOUSE_BENCH_SERVER_CPUPROFILE"

// runServerChild runs app.Run with args under the CPU profiler until
// SIGTERM and writes the profile to path. It returns the exit code.
func runServerChild(path string, args []string) int {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench child:", err)
		return 1
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench child:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = app.Run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		return 1
	}
	return 0
}
