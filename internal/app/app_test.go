package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
	"golang.org/x/crypto/bcrypt"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, envOf(env), &out, &errb)
	return out.String(), errb.String(), err
}

// TestServeAndCLI starts the real server on SQLite, creates the first
// admin with the CLI while it runs, logs in over HTTP, imports users and
// shuts down gracefully.
func TestServeAndCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet", "there") // serve creates the data dir
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_HTTP": "127.0.0.1:0", "GATEHOUSE_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- serve(ctx, nil, envOf(env), io.Discard, &logs, func(a string) { addrc <- a }, Options{})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server not ready")
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}
	out, _, err := run(t, env, "users", "create", "--email", "Admin@Example.com", "--password", "correct horse battery staple", "--role", "admin")
	if err != nil || !strings.Contains(out, "admin@example.com") {
		t.Fatalf("users create: %q %v", out, err)
	}
	if _, _, err := run(t, env, "users", "create", "--email", "x@example.com", "--password", "password123"); err == nil {
		t.Fatal("common password accepted by the CLI")
	}
	body := `{"email":"admin@example.com","password":"correct horse battery staple"}`
	res, err := http.Post("http://"+addr+"/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	_ = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || login["access_token"] == nil {
		t.Fatalf("login against the served instance: %d %v", res.StatusCode, login)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/admin/users", nil)
	req.Header.Set("Authorization", "Bearer "+login["access_token"].(string))
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin list as CLI-created admin: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	// The CLI's action names the operating-system account that ran it
	// (Z17).
	req, _ = http.NewRequest("GET", "http://"+addr+"/v1/admin/audit-events?type=user.created", nil)
	req.Header.Set("Authorization", "Bearer "+login["access_token"].(string))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var evs struct {
		Events []struct {
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	_ = json.NewDecoder(res.Body).Decode(&evs)
	res.Body.Close()
	osUser := "unknown"
	if me, err := user.Current(); err == nil {
		osUser = me.Username
	}
	if len(evs.Events) != 1 || !strings.Contains(evs.Events[0].UserAgent, "gatehouse-cli (os user "+osUser+" on ") {
		t.Fatalf("CLI user.created events: %+v, want the OS user %s", evs, osUser)
	}

	bc, _ := bcrypt.GenerateFromPassword([]byte("imported passphrase"), 4)
	file := filepath.Join(dir, "users.jsonl")
	os.WriteFile(file, []byte(`{"email":"bob@mail.com","password_hash":"`+string(bc)+`"}`+"\n"+
		`{"email":"old@mail.com","password_hash":"`+password.LegacyHMAC("salt", "legacy passphrase")+`"}`+"\n"), 0o600)
	out, _, err = run(t, env, "users", "import", "--file", file)
	if err != nil || !strings.Contains(out, "imported 2 users, skipped 0") {
		t.Fatalf("import: %q %v", out, err)
	}
	out, _, err = run(t, env, "users", "list", "--query", "mail.com")
	if err != nil || !strings.Contains(out, "bob@mail.com") || !strings.Contains(out, "old@mail.com") || strings.Contains(out, "admin@") {
		t.Fatalf("list: %q %v", out, err)
	}
	res, _ = http.Post("http://"+addr+"/v1/auth/login", "application/json", strings.NewReader(`{"email":"old@mail.com","password":"legacy passphrase"}`))
	if res.StatusCode != 200 {
		t.Fatalf("legacy import login: %d", res.StatusCode)
	}
	res.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	if strings.Contains(logs.String(), "correct horse") {
		t.Fatal("a password reached the logs")
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown", nil, []string{"frobnicate"}, "unknown command"},
		{"bad addr", map[string]string{"GATEHOUSE_DATA_DIR": dir}, []string{"serve", "--http", "nonsense"}, "is not host:port"},
		{"postgres without master key", map[string]string{"GATEHOUSE_DATA_DIR": dir, "GATEHOUSE_DATABASE_URL": "postgres://postgres@127.0.0.1:1/x?connect_timeout=1"}, []string{"migrate"}, ""},
		{"bad database url", map[string]string{"GATEHOUSE_DATA_DIR": dir}, []string{"migrate", "--database-url", "mysql://x"}, "must start with postgres://"},
		{"users without subcommand", map[string]string{"GATEHOUSE_DATA_DIR": dir}, []string{"users"}, "expected create"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, c.env, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
		})
	}
	out, _, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestPostgresNeedsMasterKey(t *testing.T) {
	c := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_HTTP": "127.0.0.1:0"}
	url := pgtest.NewDatabase(t)
	c["GATEHOUSE_DATABASE_URL"] = url
	err := serve(context.Background(), nil, envOf(c), io.Discard, io.Discard, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_MASTER_KEY") {
		t.Fatalf("serve on PostgreSQL without a master key: %v", err)
	}
	// With a key, the same binary runs on PostgreSQL with no other change.
	c["GATEHOUSE_MASTER_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- serve(ctx, nil, envOf(c), io.Discard, io.Discard, func(a string) { ready <- a }, Options{})
	}()
	select {
	case addr := <-ready:
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("readyz on PostgreSQL: %v %v", res, err)
		}
		res.Body.Close()
	case err := <-done:
		t.Fatalf("serve on PostgreSQL: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A hash worker gets no GATEHOUSE_ variable (the master key and database
// URL stay in the server), one processor per hash lane, and madvdontneed=0
// unless the operator's GODEBUG chose.
func TestHashWorkerEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		lanes   uint8
		want    []string
	}{
		{"secrets dropped, defaults added", []string{"PATH=/bin", "GATEHOUSE_MASTER_KEY=k", "GATEHOUSE_DATABASE_URL=postgres://u:p@db/x", "GOMAXPROCS=8", "HOME=/h"}, 1,
			[]string{"PATH=/bin", "HOME=/h", "GOMAXPROCS=1", "GODEBUG=madvdontneed=0"}},
		{"operator GODEBUG kept and extended", []string{"GODEBUG=gctrace=1"}, 4, []string{"GOMAXPROCS=4", "GODEBUG=gctrace=1,madvdontneed=0"}},
		{"operator madvdontneed wins", []string{"GODEBUG=madvdontneed=1"}, 0, []string{"GOMAXPROCS=1", "GODEBUG=madvdontneed=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hashWorkerEnv(tc.environ, tc.lanes)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("hashWorkerEnv = %q, want %q", got, tc.want)
			}
		})
	}
}
