package main

import (
	"slices"
	"testing"
)

func TestRuntimeEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	for _, c := range []struct {
		name    string
		args    []string
		environ []string
		want    []string // nil: no re-execution
	}{
		{"serve gets the default", []string{"gatehouse", "serve"}, base, append(slices.Clone(base), "GODEBUG=madvdontneed=0")},
		{"other GODEBUG settings are kept", []string{"gatehouse", "serve", "--http", ":8080"}, append(slices.Clone(base), "GODEBUG=gctrace=1"),
			append(slices.Clone(base), "GODEBUG=gctrace=1,madvdontneed=0")},
		{"the operator's choice wins", []string{"gatehouse", "serve"}, append(slices.Clone(base), "GODEBUG=gctrace=1, madvdontneed=1"), nil},
		{"already re-executed", []string{"gatehouse", "serve"}, append(slices.Clone(base), "GODEBUG=madvdontneed=0"), nil},
		{"turned off", []string{"gatehouse", "serve"}, append(slices.Clone(base), "GATEHOUSE_RUNTIME_DEFAULTS=0"), nil},
		{"the first GODEBUG is the one in force", []string{"gatehouse", "serve"}, append(slices.Clone(base), "GODEBUG=gctrace=1", "GODEBUG=madvdontneed=1"),
			append(slices.Clone(base), "GODEBUG=gctrace=1,madvdontneed=0")},
		{"CLI commands run as they are", []string{"gatehouse", "users", "list"}, base, nil},
		{"no command", []string{"gatehouse"}, base, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runtimeEnv(c.args, c.environ)
			if !slices.Equal(got, c.want) {
				t.Fatalf("runtimeEnv = %q, want %q", got, c.want)
			}
		})
	}
}
