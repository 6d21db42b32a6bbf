package main

import (
	"io"
	"slices"
	"testing"
)

func TestParseFlagsScenarios(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"default is all", nil, scenarioOrder(), false},
		{"canonical order kept", []string{"-scenarios", "login,floor"}, []string{"floor", "login"}, false},
		{"duplicates and spaces", []string{"-scenarios", " signup, signup ,"}, []string{"signup"}, false},
		{"unknown name", []string{"-scenarios", "floor,whoami"}, nil, true},
		{"empty list", []string{"-scenarios", ","}, nil, true},
		{"bad database url", []string{"-database-url", "mysql://x"}, nil, true},
		{"zero concurrency", []string{"-c", "0"}, nil, true},
		{"stray argument", []string{"extra"}, nil, true},
		{"replicas need a shared database", []string{"-replicas", "3", "-redis-url", "redis://127.0.0.1:6379/0"}, nil, true},
		{"replicas need Redis", []string{"-replicas", "3", "-database-url", "postgres://x/db"}, nil, true},
		{"replicas on PostgreSQL and Redis", []string{"-replicas", "3", "-database-url", "postgres://x/db", "-redis-url", "redis://127.0.0.1:6379/0"}, scenarioOrder(), false},
		{"bad redis url", []string{"-redis-url", "http://x"}, nil, true},
		{"zero replicas", []string{"-replicas", "0"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(o.scenarios, tt.want) {
				t.Errorf("scenarios = %q, want %q", o.scenarios, tt.want)
			}
		})
	}
}
