package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "g.yaml")
	os.WriteFile(file, []byte("http:\n  addr: 127.0.0.1:7000\ndata_dir: /from/yaml\nlockout:\n  threshold: 9\n  duration: 1h\nsession:\n  lifetime: 168h\n"), 0o600)
	c, err := load(t, []string{"--config", file, "--http", "127.0.0.1:9000"}, map[string]string{
		"GATEHOUSE_HTTP": "127.0.0.1:8000", "GATEHOUSE_DATA_DIR": "/from/env", "GATEHOUSE_REQUIRE_EMAIL_VERIFICATION": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:9000" || c.DataDir != "/from/env" || c.Lockout.Threshold != 9 || c.Lockout.Duration != time.Hour ||
		c.Session.Lifetime != 168*time.Hour || !c.RequireEmailVerification || c.HTTP.PublicURL != "http://127.0.0.1:9000" {
		t.Fatalf("flags > env > yaml > defaults broken: %+v", c)
	}
	d, err := load(t, nil, nil)
	if err != nil || d.HTTP.Addr != "127.0.0.1:8080" || d.DataDir != "./data" || d.Tokens.AccessTTL != 15*time.Minute || d.Lockout.Threshold != 5 {
		t.Fatalf("defaults: %+v %v", d, err)
	}
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--http", "abc"}, nil, `http: "abc" is not host:port`},
		{[]string{"--public-url", "ftp://x"}, nil, "public-url"},
		{[]string{"--cors-origins", "*"}, nil, "wildcards are not allowed"},
		{nil, map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://u:pw@h/db"}, "must start with postgres://"},
		{nil, map[string]string{"GATEHOUSE_REQUIRE_EMAIL_VERIFICATION": "yes please"}, "is not true or false"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
	}
	for _, c := range cases {
		_, err := load(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err %v, want %q", c.args, c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:pw") {
			t.Errorf("database password leaked into %q", err)
		}
	}
	os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("htp:\n  addr: x\n"), 0o600)
	if _, err := load(t, []string{"--config", bad}, nil); err == nil || !strings.Contains(err.Error(), "htp") {
		t.Errorf("unknown YAML key not reported: %v", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := load(t, nil, map[string]string{"GATEHOUSE_MASTER_KEY": "c2VjcmV0LWtleQ==", "GATEHOUSE_DATABASE_URL": "postgres://u:hunter2@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join([]string{c.MasterKey.String(), c.Database.URL.String()}, " ")
	if strings.Contains(s, "hunter2") || strings.Contains(s, "c2VjcmV0") {
		t.Fatalf("secret printed: %s", s)
	}
	if !c.IsPostgres() || c.Secure() {
		t.Fatal("helpers wrong")
	}
}
