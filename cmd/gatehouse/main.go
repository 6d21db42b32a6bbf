// Command gatehouse is the Gatehouse server and its admin CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// hashWorkerCommand is the hidden command `gatehouse serve` starts its
// password-hash worker processes with (password.ProcessOptions).
const hashWorkerCommand = "hash-worker"

func main() {
	if len(os.Args) == 2 && os.Args[1] == hashWorkerCommand {
		os.Exit(hashWorker())
	}
	withRuntimeDefaults(execve)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var o app.Options
	if exe, err := workerExecutable(); err == nil {
		o.HashWorker = []string{exe, hashWorkerCommand}
	}
	if err := app.RunWith(ctx, o, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

// workerExecutable is the binary the hash workers run. Workers start at
// the first hash and again after a failure, possibly long after the
// server did; on Linux /proc/self/exe is the running server's own image
// even if an upgrade has replaced the file since, so a worker is always
// the server's own version.
func workerExecutable() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}

// hashWorker serves hash requests on stdin until the server closes it.
// Ctrl-C and SIGTERM reach the whole process group; the worker ignores
// them so that the server, shutting down gracefully, can still finish the
// logins in flight, and then ends the worker by closing its input.
func hashWorker() int {
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := password.ServeWorker(os.Stdin, os.Stdout, password.DefaultMaxMemory); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse hash-worker:", err)
		return 1
	}
	return 0
}
