package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-very-secret")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "pw", s)
	j, _ := json.Marshal(struct{ P Secret }{s})
	outs := []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v %+v", s, s, s, s), buf.String(), string(j)}
	for _, o := range outs {
		if strings.Contains(o, "hunter2") {
			t.Fatalf("secret leaked: %q", o)
		}
	}
	if s.Reveal() != "hunter2-very-secret" {
		t.Fatal("Reveal lost the value")
	}
}

func TestTokens(t *testing.T) {
	a, err := NewToken(TokenBytes)
	if err != nil {
		t.Fatal(err)
	}
	b := MustToken()
	if len(a.Reveal()) != 43 || a == b {
		t.Fatalf("token length %d or repeated", len(a.Reveal()))
	}
	if Digest("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal("digest is not sha256 hex")
	}
	if !Equal("x", "x") || Equal("x", "y") || !a.Equal(a) || a.Equal(b) {
		t.Fatal("Equal wrong")
	}
}
